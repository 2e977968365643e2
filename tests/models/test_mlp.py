"""The MLP GAN (dcgan.models.mlp) through the shared model tests, with the Keras model's counts."""

from __future__ import annotations

from .model_tester import ModelTesterMixin, PublishedCountsMixin


class TestMLPPublished(PublishedCountsMixin, ModelTesterMixin):
    """The `fashion-mlp` preset as published: 28x28x1, z = 100, hidden 256."""

    preset = "fashion-mlp"
    g_batchnorm = False
    d_batchnorm = False
    param_counts = (227_344, 201_217)


class TestMLP32RGB(ModelTesterMixin):
    preset = "fashion-mlp"
    overrides = {"size": 32, "channels": 3, "mlp_hidden": 16, "z_dim": 8}
    g_batchnorm = False
    d_batchnorm = False


class TestMLPSpectralNorm(ModelTesterMixin):
    preset = "fashion-mlp"
    overrides = {"mlp_hidden": 16, "spectral_norm": True, "loss": "hinge"}
    g_batchnorm = False
    d_batchnorm = False
    d_spectral_norm = True
