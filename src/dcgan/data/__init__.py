"""Data: a SOURCE (folder, zip, CelebA, Fashion-MNIST, synthetic) decoded once into a packed uint8 store.

Data flows one way: `sources` picks the reader (`files`, `celeba`, `fashion_mnist`, `synthetic`,
all built on `base` and `decode`), `store` caches what `pack` decoded, and `batches` (which needs
torch, so it is not imported here) serves a store to training. Everything outside this package
needs only the names below.
"""

from __future__ import annotations

from .base import IMAGE_EXTENSIONS, SPLITS
from .fashion_mnist import FASHION_MNIST_CLASSES
from .sources import source_channels
from .store import PackedStore, default_cache_dir, open_store

__all__ = [
    "FASHION_MNIST_CLASSES",
    "IMAGE_EXTENSIONS",
    "SPLITS",
    "PackedStore",
    "default_cache_dir",
    "open_store",
    "source_channels",
]
