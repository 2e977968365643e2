"""A model card for a trained generator: what it learned from, how it was trained, what it measured,
how to load it, what it is for, and that its images are synthetic.

    card = model_card(load_generator("runs/fashion"), "runs/fashion")   # a JSON-serialisable dict
    text = card_markdown(card)                                          # the same as a README.md

Metrics are only ever measured ones: the evaluations in the run's metrics.jsonl (`--eval-every`), the
last logged losses and mode-collapse signal, an `evaluate` result (`dcgan evaluate --json`) given as
`evaluation`, and those stored with an exported model (its `card.json`, see `dcgan.export`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .generator import TrainedGenerator

CARD_JSON = "card.json"  # the machine-readable card beside an exported model.safetensors

PROVENANCE = (
    "Every image this model outputs is synthetic: drawn by a generative adversarial network from random "
    "latents, not a photograph or scan of a real item or person. PNG files written by dcgan carry the text "
    "tags Software=dcgan and dcgan:synthetic=true; keep the images labelled as generated when you share them "
    "and never present them as real."
)
CODE_LICENSE = "MIT"
DATA_LICENSES = {
    "fashion-mnist": "Fashion-MNIST (Zalando Research) is released under the MIT license",
    "celeba": "CelebA is available for non-commercial research purposes only; weights trained on it inherit that",
}
INTENDED_USE = (
    "Research, teaching and demonstrations of generative adversarial networks: sampling, latent walks and "
    "arithmetic, evaluation of image metrics. Not for identifying, imitating or depicting real people, not as "
    "evidence of anything real, and not as training data for safety-critical systems."
)
LIMITATIONS = (
    "A small GAN at low resolution: samples show artefacts, may repeat "
    "modes of the training data and reflect its biases; FID depends on the sample count (compare only at "
    "equal counts)."
)
METRIC_KEYS = (
    "fid", "kid", "fid_fashion", "precision", "recall", "disc_accuracy",
    "class_consistency", "fid_intra", "fid_fashion_intra",  # conditional models
)  # fmt: skip
HIGHER_IS_BETTER = frozenset({"precision", "recall", "class_consistency"})
EVAL_FIELDS = ("num_fake", "num_real", "split", "feature_network", "fashion_network", "seed", "step", "data")
TRAINING_FIELDS = (
    "loss", "batch_size", "lr_g", "lr_d", "beta1", "beta2", "ema_half_life", "spectral_norm", "r1_gamma",
    "augment", "ada_target", "ada_speed", "real_label", "init", "amp", "seed", "d_channels", "g_channels",
    "mlp_hidden", "class_loss", "class_loss_g",
)  # fmt: skip


def _data_kind(data: str, evaluation: dict[str, Any]) -> str | None:
    kind = evaluation.get("data_kind")
    if isinstance(kind, str):
        return kind
    low = data.lower()
    return "fashion-mnist" if "fashion" in low else "celeba" if "celeba" in low else None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    out = []
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn last line from a kill
        if isinstance(record, dict):
            out.append(record)
    return out


def training_metrics(records: list[dict[str, Any]], step: int | None = None) -> dict[str, Any]:
    """From metrics.jsonl records (up to `step`): each evaluation metric's last and best value with their
    steps, the last logged losses and the last mode-collapse signal."""
    if step is not None:
        records = [r for r in records if r.get("step", 0) <= step]
    out: dict[str, Any] = {}
    for key in METRIC_KEYS:
        evals = [r for r in records if isinstance(r.get(key), (int, float))]
        if evals:
            best = (max if key in HIGHER_IS_BETTER else min)(evals, key=lambda r: r[key])
            out[key] = {"last": evals[-1][key], "last_step": evals[-1].get("step"), "best": best[key]}
            out[key]["best_step"] = best.get("step")
    losses = [r for r in records if "loss_d" in r]
    if losses:
        last = losses[-1]
        keep = ("step", "loss_d", "loss_g", "d_real_mean", "d_fake_mean_after", "images_per_second")
        out["last_losses"] = {k: last[k] for k in keep if k in last}
    diversity = [r for r in records if "sample_diversity" in r]
    if diversity:
        out["sample_diversity"] = {"value": diversity[-1]["sample_diversity"], "step": diversity[-1].get("step")}
    return out


def evaluation_metrics(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The metric values of a `dcgan evaluate --json` result, with the counts and networks behind them."""
    out = {k: evaluation[k] for k in METRIC_KEYS if isinstance(evaluation.get(k), (int, float))}
    out.update({k: evaluation[k] for k in EVAL_FIELDS if evaluation.get(k) is not None})
    return out


def _stored_card(weights: Path) -> dict[str, Any]:
    """The card saved beside an exported model (an hf folder, a packaged pretrained model); {} when none."""
    path = weights.parent / CARD_JSON
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def model_card(
    generator: TrainedGenerator,
    run_dir: str | Path | None = None,
    evaluation: dict[str, Any] | str | Path | None = None,
) -> dict[str, Any]:
    """The card of a loaded generator as a JSON-serialisable dict.

    run_dir: its run directory (metrics.jsonl supplies the evaluations during training); evaluation: a
    `dcgan evaluate --json` result (dict or file). A model loaded from an exported folder keeps the metrics
    and facts stored in its card.json."""
    from .checkpoint import read_checkpoint

    if isinstance(evaluation, (str, Path)):
        evaluation = json.loads(Path(evaluation).read_text(encoding="utf-8"))
    evaluation = dict(evaluation or {})
    stored = _stored_card(Path(generator.path))
    config = generator.config
    meta = read_checkpoint(generator.path, prefixes=()).meta  # the header only
    extra = meta.get("extra", {})
    records = _read_jsonl(Path(run_dir) / "metrics.jsonl") if run_dir is not None else []
    metrics: dict[str, Any] = dict(stored.get("metrics") or {})
    during = training_metrics(records, generator.step)
    if during:
        metrics["during_training"] = during
    if evaluation:
        metrics["evaluation"] = evaluation_metrics(evaluation)
    condition = getattr(generator, "condition", None)  # dcgan.labels.Condition of a conditional generator
    names = list(condition.names) if condition is not None else []
    class_names = getattr(generator, "class_names", None) or (
        names if getattr(condition, "kind", "") == "class" else []
    )
    kind = _data_kind(config.data, evaluation) or stored.get("data_kind")
    data_license = DATA_LICENSES.get(kind or "", "the training data's own license applies to what the model learned")
    card: dict[str, Any] = {
        "name": stored.get("name") or (Path(run_dir).name if run_dir is not None else Path(generator.path).stem),
        "data": stored.get("data") or config.data,
        "data_kind": kind,
        "data_split": config.split,
        "data_sha256": extra.get("images_sha256") or stored.get("data_sha256"),
        "num_images": extra.get("num_images", config.limit),
        "image_size": config.size,
        "channels": generator.channels,
        "arch": config.arch,
        "z_dim": config.z_dim,
        "z_dist": config.z_dist,
        "generator_parameters": sum(p.numel() for p in generator.generator.parameters()),
        "steps": generator.step,
        "epochs": meta.get("epoch"),
        "images_seen": meta.get("images_seen"),
        "train_seconds": extra.get("train_seconds"),
        "preset": config.extra.get("preset"),
        "training": {k: getattr(config, k) for k in TRAINING_FIELDS if hasattr(config, k)},
        "metrics": metrics,
        "provenance": PROVENANCE,
        "license": f"{CODE_LICENSE} (code and weights); {data_license}",
        "intended_use": INTENDED_USE,
        "limitations": LIMITATIONS,
        "conditional": condition is not None or bool(class_names),
    }
    if class_names:
        card["class_names"] = list(class_names)
    elif names:
        card["attribute_names"] = names
    for key in ("command", "note", "torch_version", "how_to_load", "reproduce"):  # facts only the exporter knew
        if key in stored:
            card[key] = stored[key]
    return card


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "-"
    return str(value)


def _metric_rows(metrics: dict[str, Any]) -> list[str]:
    rows = []
    for source, values in metrics.items():
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if isinstance(value, dict):
                shown = ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
            else:
                shown = _fmt(value)
            rows.append(f"| {source} | {key} | {shown} |")
    return rows


def card_markdown(card: dict[str, Any]) -> str:
    """The card as Markdown (a Hugging Face-style README.md, with its YAML front matter)."""
    lic = "mit" if card.get("data_kind") != "celeba" else "other"
    front = ["---", f"license: {lic}", "library_name: dcgan", "pipeline_tag: unconditional-image-generation"]
    front += ["tags:", "- gan", "- dcgan", "- synthetic-images", "---", ""]
    lines = front + [f"# {card.get('name', 'dcgan generator')}", ""]
    lines += [
        f"A {card['arch']} generator: {card['image_size']}x{card['image_size']} px, {card['channels']} channel(s), "
        f"latent {card['z_dim']} ({card['z_dist']}), trained on {card['data']}"
        + (f" ({card['num_images']:,} images, split {card['data_split']})" if card.get("num_images") else "")
        + ".",
        "",
        "| | |",
        "|---|---|",
    ]
    facts = ("preset", "steps", "epochs", "images_seen", "train_seconds", "generator_parameters", "data_sha256")
    lines += [f"| {k} | {_fmt(card.get(k))} |" for k in facts + ("command", "torch_version") if k in card]
    if card.get("conditional"):
        names = card.get("class_names") or card.get("attribute_names") or []
        lines.append(f"| conditioned on | {', '.join(names) or 'labels'} |")
    lines += ["", "## Metrics (measured)", ""]
    rows = _metric_rows(card.get("metrics") or {})
    lines += ["| source | metric | value |", "|---|---|---|", *rows] if rows else ["No metric was measured."]
    lines += ["", "## How it was trained", ""]
    lines.append(", ".join(f"{k} {_fmt(v)}" for k, v in (card.get("training") or {}).items()) + ".")
    if card.get("note"):
        lines += ["", str(card["note"])]
    if card.get("reproduce"):
        lines += ["", "```bash", str(card["reproduce"]), "```"]
    lines += ["", "## How to load", "", "```python"]
    lines += [
        card.get("how_to_load")
        or "from dcgan import load_generator\nG = load_generator('THIS_FOLDER')\nimages = G.sample(16, seed=0)"
    ]
    lines += ["```", "", "## Intended use", "", card["intended_use"], "", "## Limitations", "", card["limitations"]]
    lines += ["", "## Provenance: synthetic images", "", card["provenance"], "", "## License", "", card["license"], ""]
    return "\n".join(lines)
