"""A study's tables and figures, rebuilt from its state (study.json): study.md, study.png and grids.png.

study.md: one row per limit, for each augmentation mode each metric's mean ± std over the seeds; then
each mode's relative change against --augment none (when the study has it).
study.png: one panel per metric against the number of training images (log scale), one line per
mode with the seeds' standard deviation as error bars. grids.png: the seed-0 run of every (limit,
mode) as a fixed-seed sample grid, limits as columns and modes as rows, labelled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..fsutil import atomic_write

#: Images in each run's grid (4 x 4), sampled with this seed.
GRID_IMAGES, GRID_ROW, GRID_SEED = 16, 4, 0
#: grids.png geometry, in pixels: the mode label column, the limit header row, the gap between tiles.
LABEL_WIDTH, HEADER_HEIGHT, GAP = 72, 22, 8
MIN_TILE = 160  # tiles smaller than this are enlarged by a whole factor (nearest neighbour)
TITLES = {"fid": "FID", "kid": "KID", "fid_fashion": "domain FID (fid_fashion)"}


def limit_label(limit: int | str, images: int) -> str:
    return f"all ({images})" if limit == "all" else str(limit)


def _fmt(key: str, stats: dict[str, Any]) -> str:
    digits = 5 if key.startswith("kid") else 3
    text = f"{stats['mean']:.{digits}f}"
    return text + (f" ± {stats['std']:.{digits}f}" if stats.get("std") is not None else "")


def metric_keys(state: dict[str, Any]) -> list[str]:
    """The aggregated metric keys, FID, KID and domain FID first."""
    keys: list[str] = []
    for row in state["summary"]:
        keys += [k for k in row["metrics"] if k not in keys]
    first = [k for k in TITLES if k in keys]
    return first + [k for k in keys if k not in first]


def markdown(state: dict[str, Any]) -> str:
    """study.md: the command, then the table (rows: limits; columns: each mode's metrics as mean ± std)."""
    settings = state["settings"]
    keys = metric_keys(state)
    modes = settings["augment"]
    rows = {(r["limit"], r["augment"]): r for r in state["summary"]}
    seeds = settings["seeds"]
    lines = [
        "# Data-size study",
        "",
        f"`{state['command']}`",
        "",
        f"Data: {settings['data']} ({state['data_size']} training images); budget per run: "
        + (", ".join(f"{v} {k}" for k, v in settings["budget"].items()) or "the preset's epochs")
        + f"; {seeds} seed{'s' if seeds > 1 else ''} per cell, mean ± std (sample standard deviation) over them; "
        f"metrics on {settings['num']} generated images against the held-out split.",
        "",
    ]
    head = ["images"] + [f"{mode}: {k}" for mode in modes for k in keys]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for limit in settings["limits"]:
        images = next((r["images"] for r in state["summary"] if r["limit"] == limit), None)
        cells = [limit_label(limit, images if images is not None else state["data_size"])]
        for mode in modes:
            row = rows.get((limit, mode))
            cells += [_fmt(k, row["metrics"][k]) if row and k in row["metrics"] else "–" for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    lines += _change_table(state, keys)
    pending = [r["name"] for r in state["runs"] if r.get("status") != "done"]
    expected = len(settings["limits"]) * len(modes) * seeds
    missing = expected - len(state["runs"]) + len(pending)
    if missing:
        lines += ["", f"{missing} of {expected} runs not finished yet: rerun the command to continue."]
    return "\n".join(lines) + "\n"


def _change_table(state: dict[str, Any], keys: list[str]) -> list[str]:
    """Lines of the table of each augmentation mode's change against none, per limit ([]: nothing to compare)."""
    rows = [r for r in state["summary"] if r.get("vs_none")]
    modes = [m for m in state["settings"]["augment"] if any(r["augment"] == m for r in rows)]
    shown = [k for k in keys if any(k in r["vs_none"] for r in rows)]
    if not rows or not shown:
        return []
    head = ["images"] + [f"{mode}: {k}" for mode in modes for k in shown]
    lines = [
        "",
        "Against no augmentation (the mean's relative change; negative: lower, better):",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for limit in state["settings"]["limits"]:
        cells = {r["augment"]: r for r in rows if r["limit"] == limit}
        if not cells:
            continue
        row = [limit_label(limit, next(iter(cells.values()))["images"])]
        row += [
            f"{cells[m]['vs_none'][k]:+.1%}" if m in cells and k in cells[m]["vs_none"] else "–"
            for m in modes
            for k in shown
        ]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def plot(state: dict[str, Any], path: Path) -> list[str]:
    """study.png: one panel per metric key, metric against training images; returns the panels' keys."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    keys = metric_keys(state)
    fig, axes = plt.subplots(1, max(1, len(keys)), figsize=(4.8 * max(1, len(keys)), 4.0), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for mode in state["settings"]["augment"]:
            rows = [r for r in state["summary"] if r["augment"] == mode and key in r["metrics"]]
            if not rows:
                continue
            x = [r["images"] for r in rows]
            y = [r["metrics"][key]["mean"] for r in rows]
            err = [r["metrics"][key]["std"] or 0.0 for r in rows]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=f"augment {mode}")
        ax.set_xscale("log")
        ticks = sorted({r["images"] for r in state["summary"]})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("training images (log scale)")
        ax.set_title(TITLES.get(key, key))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    if not keys:
        axes[0][0].text(0.5, 0.5, "no finished runs yet", ha="center", va="center")
        axes[0][0].set_axis_off()
    name = Path(state["settings"]["data"]).name or state["settings"]["data"]
    fig.suptitle(f"{name}: lower is better", fontsize=10)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
    return keys


def _tile(folder: Path) -> Any:
    """The run's fixed-seed grid (HWC uint8, RGB), or None when it has no checkpoint yet."""
    import numpy as np

    from ..checkpoint import list_checkpoints
    from ..generator import load_generator
    from ..io import make_grid

    if not list_checkpoints(folder):
        return None
    images = load_generator(folder).sample(GRID_IMAGES, seed=GRID_SEED)
    grid = make_grid(images, nrow=GRID_ROW)
    return np.repeat(grid, 3, axis=2) if grid.shape[2] == 1 else grid


def write_grids(state: dict[str, Any], out: Path, path: Path) -> dict[str, Any]:
    """grids.png: rows = modes, columns = limits, each cell the seed-0 run's grid; returns its layout."""
    import numpy as np
    from PIL import Image, ImageDraw

    from ..io import atomic_save_png

    settings = state["settings"]
    modes, limits = settings["augment"], settings["limits"]
    done = {(r["limit"], r["augment"]): r for r in state["runs"] if r["seed"] == 0 and r.get("status") == "done"}
    tiles = {key: _tile(out / r["folder"]) for key, r in done.items()}
    shapes = [t.shape for t in tiles.values() if t is not None]
    h, w = (shapes[0][0], shapes[0][1]) if shapes else (MIN_TILE, MIN_TILE)
    scale = max(1, -(-MIN_TILE // max(w, 1)))
    th, tw = h * scale, w * scale
    width = LABEL_WIDTH + GAP + len(limits) * (tw + GAP)
    height = HEADER_HEIGHT + GAP + len(modes) * (th + GAP)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    cells = []
    images = {r["limit"]: r["images"] for r in state["runs"]}
    for c, limit in enumerate(limits):
        x = LABEL_WIDTH + GAP + c * (tw + GAP)
        label = limit_label(limit, images.get(limit, state["data_size"])) + " images"
        draw.text((x, 4), label, fill="black")
        for r, mode in enumerate(modes):
            y = HEADER_HEIGHT + GAP + r * (th + GAP)
            if c == 0:
                draw.text((4, y + th // 2 - 6), f"augment\n{mode}", fill="black")
            tile = tiles.get((limit, mode))
            if tile is None:
                draw.rectangle([x, y, x + tw - 1, y + th - 1], fill=(225, 225, 225))
                draw.text((x + 6, y + th // 2 - 6), "not run yet", fill="black")
            else:
                big = np.kron(tile, np.ones((scale, scale, 1), np.uint8)) if scale > 1 else tile
                canvas.paste(Image.fromarray(np.ascontiguousarray(big[:th, :tw])), (x, y))
            run = done.get((limit, mode))
            cells.append(
                {"limit": limit, "augment": mode, "run": run["name"] if run else None, "box": [x, y, x + tw, y + th]}
            )
    atomic_save_png(canvas, path, {"Software": "dcgan", "dcgan:synthetic": "true"})
    return {"rows": list(modes), "columns": list(limits), "size": [width, height], "tile": [th, tw], "cells": cells}
