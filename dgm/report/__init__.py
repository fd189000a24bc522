"""Run reports: the lineage tree, per-node panels, progress and cost plots, summary statistics."""
