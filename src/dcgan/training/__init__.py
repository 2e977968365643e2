"""Training loop, checkpoints hooks, plots and the run report."""
