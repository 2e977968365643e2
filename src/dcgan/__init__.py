"""dcgan: train DCGAN-family image generators on real image collections."""

__version__ = "0.1.0"
