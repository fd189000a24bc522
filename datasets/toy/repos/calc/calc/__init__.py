"""Arithmetic and statistics helpers."""

from calc.arith import add, divide, multiply, subtract
from calc.stats import mean, median

__all__ = ["add", "subtract", "multiply", "divide", "mean", "median"]
