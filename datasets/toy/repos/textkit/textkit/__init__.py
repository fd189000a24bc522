"""String helpers."""

from textkit.case import snake_to_camel
from textkit.slug import slugify

__all__ = ["slugify", "snake_to_camel"]
