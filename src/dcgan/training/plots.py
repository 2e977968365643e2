"""Training plots as S1 shows them: G and D loss over iterations, D(x) and D(G(z)) over iterations; and
the augmentation probability p of an --augment ada run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"))


def plot_training(records: Sequence[dict[str, Any]], plots_dir: str | Path) -> list[Path]:
    """Write plots/losses.png, plots/d_outputs.png, (--augment ada) plots/augment_p.png and (when FID was
    measured) plots/fid.png."""
    plt = _figure()
    plots_dir = Path(plots_dir)
    steps = [r["step"] for r in records if "loss_d" in r]
    written: list[Path] = []
    if steps:
        train = [r for r in records if "loss_d" in r]
        fig, ax = plt.subplots(figsize=(10, 5))
        ax.plot(steps, [r["loss_g"] for r in train], label="G", linewidth=1)
        ax.plot(steps, [r["loss_d"] for r in train], label="D", linewidth=1)
        ax.set_title("Generator and Discriminator Loss During Training")
        ax.set_xlabel("iterations")
        ax.set_ylabel("loss")
        ax.legend()
        _save(fig, plots_dir / "losses.png")
        plt.close(fig)
        written.append(plots_dir / "losses.png")

        fig, ax = plt.subplots(figsize=(10, 5))
        ax.plot(steps, [r["d_real_mean"] for r in train], label="D(x)", linewidth=1)
        ax.plot(steps, [r["d_fake_mean_before"] for r in train], label="D(G(z)) before D update", linewidth=1)
        ax.plot(steps, [r["d_fake_mean_after"] for r in train], label="D(G(z)) after D update", linewidth=1)
        ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title("Average discriminator output on real and generated images")
        ax.set_xlabel("iterations")
        ax.set_ylabel("mean D output")
        ax.legend()
        _save(fig, plots_dir / "d_outputs.png")
        plt.close(fig)
        written.append(plots_dir / "d_outputs.png")

    adaptive = [r for r in records if "augment_p" in r]  # --augment ada: p over the run
    if adaptive:
        fig, ax = plt.subplots(figsize=(10, 4))
        ax.plot([r["step"] for r in adaptive], [r["augment_p"] for r in adaptive], linewidth=1)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title("Adaptive augmentation: probability p of each transform")
        ax.set_xlabel("iterations")
        ax.set_ylabel("p")
        _save(fig, plots_dir / "augment_p.png")
        plt.close(fig)
        written.append(plots_dir / "augment_p.png")

    shown = [k for k in ("fid", "fid_fashion", "kid") if any(k in r for r in records)]
    if shown:
        fig, axes = plt.subplots(1, len(shown), figsize=(6 * len(shown), 4.5), squeeze=False)
        for ax, k in zip(axes[0], shown):
            evals = [r for r in records if k in r]
            ax.plot([r["step"] for r in evals], [r[k] for r in evals], marker="o")
            ax.set_title(f"{k} during training (lower is better)")
            ax.set_xlabel("iterations")
            ax.set_ylabel(k)
        _save(fig, plots_dir / "fid.png")
        plt.close(fig)
        written.append(plots_dir / "fid.png")
    return written
