"""Descriptive statistics over sequences of numbers."""


def mean(values):
    """Arithmetic mean; an empty sequence raises ValueError."""
    values = list(values)
    if not values:
        raise ValueError("mean of an empty sequence")
    return sum(values) / len(values)


def median(values):
    """Middle value of the sorted values; an empty sequence raises ValueError."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of an empty sequence")
    return ordered[len(ordered) // 2]
