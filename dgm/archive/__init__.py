"""The archive of agent variants: a bare git repository plus a SQLite index (see docs/archive.md)."""

from dgm.archive.node import Node
from dgm.archive.store import Archive

__all__ = ["Archive", "Node"]
