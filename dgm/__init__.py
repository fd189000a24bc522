"""dgm: a Darwin Gödel Machine — an archive of self-modifying coding agents, verified in sandboxes."""

__version__ = "0.1.0"
