"""Training: the loop, its state and checkpoints, the run directory, snapshots, plots and the report."""
