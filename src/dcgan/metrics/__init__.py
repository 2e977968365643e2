"""Image-quality metrics: FID, KID, precision/recall, and the discriminator report."""
