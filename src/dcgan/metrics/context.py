"""MetricContext: what the metric functions of the registry read, computed lazily and at most once.

Real features come from the cached reference statistics of the real store (`metrics.reference`);
fake features from the generated images (or from a second store's reference statistics, for
`dcgan evaluate --real/--fake`). The context counts the images it embedded and the time spent,
for the images/s figure of the results.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from ..data.store import PackedStore
    from .extractor import FeatureNetwork
    from .fashion import FashionFeatureExtractor
    from .inception import FeatureExtractor
    from .reference import ReferenceStats


class MetricContext:
    """Real and fake features under each feature network, the real images used, the discriminator.

    real_store: the real images (N_real, C, H, W) uint8; up to `num` of them are used (a fixed subset,
    `reference.select_indices`). Exactly one of fake_images (uint8 (N, C, H, W), numpy or torch)
    and fake_store (another store, up to `num` images) gives the fakes. batch_size: images per
    feature-network batch (None: the network's default)."""

    def __init__(
        self,
        real_store: PackedStore,
        num: int,
        *,
        fake_images: np.ndarray | torch.Tensor | None = None,
        fake_store: PackedStore | None = None,
        discriminator: torch.nn.Module | None = None,
        device: torch.device | str = "cpu",
        batch_size: int | None = None,
        progress: bool = True,
        seed: int = 0,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        pr_k: int = 3,
    ) -> None:
        if (fake_images is None) == (fake_store is None):
            raise ValueError("give exactly one of fake_images and fake_store")
        self.real_store = real_store
        self.num = num
        self.fake_images = fake_images
        self.fake_store = fake_store
        self.discriminator = discriminator
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.progress = progress
        self.seed = seed
        self.kid_subsets, self.kid_subset_size, self.pr_k = kid_subsets, kid_subset_size, pr_k
        self.images_embedded = 0
        self.embed_seconds = 0.0
        self.reference_cached: dict[str, bool] = {}  # per network ("inception", "fashion"): real side from cache
        self._real_stats: dict[str, ReferenceStats] = {}
        self._fake_features: dict[str, np.ndarray] = {}

    # Sample counts.
    @property
    def num_real(self) -> int:
        return min(self.num, len(self.real_store))

    @property
    def num_fake(self) -> int:
        if self.fake_images is not None:
            return len(self.fake_images)
        assert self.fake_store is not None  # one of the two, checked in __init__
        return min(self.num, len(self.fake_store))

    # Feature networks (one per process and device; loading Inception takes about a second).
    def inception(self) -> FeatureExtractor:
        from .inception import get_extractor

        return get_extractor(str(self.device))

    def fashion(self) -> FashionFeatureExtractor:
        from .fashion import get_fashion_extractor

        return get_fashion_extractor(str(self.device))

    def _network(self, which: str) -> FeatureNetwork:
        return self.inception() if which == "inception" else self.fashion()

    def _reference(self, store: PackedStore, extractor: FeatureNetwork, label: str) -> ReferenceStats:
        """Cached reference statistics of `store`, counting the embedding work when they were not cached."""
        from .reference import reference_stats

        stats = reference_stats(
            store, extractor, self.num, batch_size=self.batch_size, progress=self.progress, desc=f"{label} features"
        )
        if not stats.cached:
            self.images_embedded += stats.count
            self.embed_seconds += stats.seconds
        return stats

    def _real(self, which: str) -> ReferenceStats:
        if which not in self._real_stats:
            stats = self._reference(self.real_store, self._network(which), f"real {which}")
            self.reference_cached[which] = stats.cached
            self._real_stats[which] = stats
        return self._real_stats[which]

    def _fake(self, which: str) -> np.ndarray:
        """Fake features (N_fake, D) float64 under network `which`."""
        if which not in self._fake_features:
            extractor = self._network(which)
            if self.fake_store is not None:
                self._fake_features[which] = self._reference(self.fake_store, extractor, f"fake {which}").features
            else:
                assert self.fake_images is not None  # one of the two, checked in __init__
                start = time.perf_counter()
                self._fake_features[which] = extractor.extract(
                    self.fake_images, batch_size=self.batch_size, progress=self.progress, desc=f"fake {which} features"
                )
                self.embed_seconds += time.perf_counter() - start
                self.images_embedded += len(self.fake_images)
        return self._fake_features[which]

    def inception_real(self) -> ReferenceStats:
        return self._real("inception")

    def inception_fake(self) -> np.ndarray:
        return self._fake("inception")

    def fashion_real(self) -> ReferenceStats:
        return self._real("fashion")

    def fashion_fake(self) -> np.ndarray:
        return self._fake("fashion")

    def real_images(self) -> np.ndarray:
        """The real images the metrics use, uint8 (num_real, C, H, W): the rows of the reference statistics."""
        from .reference import select_indices

        indices = select_indices(len(self.real_store), self.num)
        images = self.real_store.images
        return np.asarray(images if len(indices) == len(images) else images[indices])
