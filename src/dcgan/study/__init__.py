"""`dcgan study`: one recipe trained on the first N images for several N (S2's data-size study),
with augmentation modes and seeds, every run evaluated; a table, a plot and the grids side by side.

plan.py: the settings, their parsing and checks, the runs, mean and std over seeds (no torch);
runner.py: training and evaluating the runs, resumably; report.py: study.md, study.png, grids.png.
"""
