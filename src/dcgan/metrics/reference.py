"""Reference statistics of a dataset split, computed once and cached beside the packed store.

For a store, a feature network and a count N, the reference is N images of the store (all of them
when N >= the store's size, else a fixed-seed random subset, so the result does not depend on the
order of the files) embedded by the network: the features themselves (for KID and
precision/recall, kept as the network's float32 output) and their float64 mean and covariance (for
FID). They are cached in ``store.path / "refstats"`` under a name made of the network, split, count
and the store's checksum, written atomically (`dcgan.fsutil.atomic_write`), so evaluating another
checkpoint only embeds the generated images.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..fsutil import atomic_write
from .fid import feature_stats

if TYPE_CHECKING:
    from ..data.store import PackedStore
    from .extractor import FeatureNetwork

FORMAT = "dcgan-refstats-v1"
SUBSET_SEED = 0  # which images form an N-image reference of a larger store; fixed so caches are shared


@dataclass
class ReferenceStats:
    features: np.ndarray  # float64 (N, D), exact widenings of the network's float32 outputs
    mu: np.ndarray  # float64 (D,)
    sigma: np.ndarray  # float64 (D, D)
    indices: np.ndarray  # int64 (N,) rows of the store that were embedded
    network: str  # the feature network's name
    cached: bool  # True when read from the cache (nothing was embedded)
    path: Path | None  # the cache file (None when caching was off or failed)
    seconds: float  # time spent embedding (0 for a cache hit)

    @property
    def count(self) -> int:
        return len(self.features)


def select_indices(total: int, num: int, seed: int = SUBSET_SEED) -> np.ndarray:
    """Rows of a `total`-image store used for an `num`-image reference (sorted)."""
    if num >= total:
        return np.arange(total, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(total, size=num, replace=False)).astype(np.int64)


def cache_path(store: PackedStore, extractor: FeatureNetwork, num: int) -> Path:
    """The cache file of `num` images of `store` under `extractor` (in the store's refstats folder)."""
    m = store.manifest
    count = min(num, len(store))
    checksum = str(m.get("checksum") or "nochecksum")
    name = f"{extractor.key}-{m.get('split', 'split')}-{count}of{len(store)}-{checksum[:16]}.safetensors"
    return Path(store.path) / "refstats" / name


def _identity(store: PackedStore, extractor: FeatureNetwork, count: int) -> dict[str, Any]:
    """What a cache file must match to be used (stored in its metadata)."""
    m = store.manifest
    return {
        "format": FORMAT,
        "network": extractor.name,
        "network_key": extractor.key,
        "checksum": m.get("checksum"),
        "split": m.get("split"),
        "count": count,
        "store_count": len(store),
        "subset_seed": SUBSET_SEED,
    }


def _load(path: Path, identity: dict[str, Any]) -> ReferenceStats | None:
    from safetensors import SafetensorError, safe_open
    from safetensors.numpy import load_file

    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = json.loads((f.metadata() or {}).get("dcgan", "{}"))
        if any(meta.get(k) != v for k, v in identity.items()):
            return None
        arrays = load_file(str(path))
        features = arrays["features"].astype(np.float64)
        mu, sigma, indices = arrays["mu"], arrays["sigma"], arrays["indices"]
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as e:  # a damaged cache is recomputed
        reason = str(e).splitlines()[0][:80] if str(e) else type(e).__name__
        print(f"note: reference statistics {path} unreadable ({reason}); computing them again", file=sys.stderr)
        return None
    n, d = features.shape
    if n != identity["count"] or mu.shape != (d,) or sigma.shape != (d, d) or indices.shape != (n,):
        return None
    return ReferenceStats(features, mu, sigma, indices, identity["network"], True, path, 0.0)


def _save(path: Path, stats: ReferenceStats, identity: dict[str, Any]) -> Path | None:
    """Atomic write; a cache that cannot be written only costs time later, so it is a note, not an error."""
    from safetensors.numpy import save

    meta = dict(identity, created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    blob = save(
        {"features": stats.features.astype(np.float32), "mu": stats.mu, "sigma": stats.sigma, "indices": stats.indices},
        metadata={"dcgan": json.dumps(meta)},
    )
    try:
        return atomic_write(path, blob)
    except OSError as e:
        print(
            f"note: could not cache reference statistics in {path.parent} ({e.strerror or e}); "
            "they will be computed again next time",
            file=sys.stderr,
        )
        return None


def reference_stats(
    store: PackedStore,
    extractor: FeatureNetwork,
    num: int,
    *,
    batch_size: int | None = None,
    progress: bool = True,
    desc: str | None = None,
) -> ReferenceStats:
    """Features, mean and covariance of `min(num, len(store))` images of `store` under `extractor`.

    store: a PackedStore (`images`, `manifest` with 'checksum' and 'split', `path`).
    extractor: `inception.FeatureExtractor` or `fashion.FashionFeatureExtractor` (`name`, `key`, `extract`).
    Read from the cache when a matching file is there; otherwise embedded and cached (a cache that
    cannot be written is a note on stderr).
    """
    count = min(num, len(store))
    identity = _identity(store, extractor, count)
    path = cache_path(store, extractor, num)
    if path.is_file():
        hit = _load(path, identity)
        if hit is not None:
            return hit
    indices = select_indices(len(store), count)
    images = store.images if count == len(store) else store.images[indices]
    start = time.perf_counter()
    features = extractor.extract(
        images,
        batch_size=batch_size,
        progress=progress,
        desc=desc or f"reference features ({store.manifest.get('split')})",
    )
    seconds = time.perf_counter() - start
    # The cache keeps float32 (the networks' own precision); round now so a miss and a hit agree exactly.
    features = np.asarray(features, np.float32).astype(np.float64)
    mu, sigma = feature_stats(features)
    stats = ReferenceStats(features, mu, sigma, indices, extractor.name, False, None, seconds)
    stats.path = _save(path, stats, identity)
    return stats
