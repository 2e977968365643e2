"""report.html: one self-contained page (images inlined) with the config, time, plots and grids."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..fsutil import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from .rundir import RunDir


def _img(path: Path, alt: str) -> str:
    if not path.exists():
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    mime = "image/gif" if path.suffix == ".gif" else "image/png"
    return (
        f'<figure><img alt="{html.escape(alt)}" src="data:{mime};base64,{data}">'
        f"<figcaption>{html.escape(alt)}</figcaption></figure>"
    )


def write_report(run: RunDir, config: dict[str, Any], summary: dict[str, Any]) -> Path:
    """Write `run`'s report.html: the summary table, real vs fake, the plots, some fixed-noise grids, the config."""
    samples = sorted(run.samples.glob("epoch_*.png"))
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in summary.items())
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>dcgan run report</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}"
        "img{max-width:100%;image-rendering:pixelated}figure{margin:1em 0}pre{background:#f4f4f4;padding:1em}</style>",
        "</head><body>",
        f"<h1>dcgan run: {html.escape(run.path.resolve().name)}</h1>",
        f"<h2>Summary</h2><table>{rows}</table>",
        "<h2>Real vs generated</h2>",
        _img(run.real_vs_fake, "real images (left) beside generated ones (right)"),
        "<h2>Training curves</h2>",
        _img(run.plots / "losses.png", "G and D loss over iterations"),
        _img(run.plots / "d_outputs.png", "D(x) and D(G(z)) over iterations"),
        _img(run.plots / "augment_p.png", "adaptive augmentation (--augment ada): the probability p over iterations"),
        _img(run.plots / "fid.png", "FID over iterations"),
    ]
    if samples:
        parts.append("<h2>Fixed-noise samples</h2>")
        parts.append(_img(run.progress, "the fixed-noise grid over training (progress.gif)"))
        shown = samples if len(samples) <= 6 else samples[:: max(1, len(samples) // 5)] + [samples[-1]]
        for p in dict.fromkeys(shown):
            parts.append(_img(p, p.stem.replace("_", " ")))
    parts.append(f"<h2>Config</h2><pre>{html.escape(json.dumps(config, indent=2, sort_keys=True))}</pre>")
    parts.append("</body></html>")
    return atomic_write(run.report, "\n".join(p for p in parts if p))
