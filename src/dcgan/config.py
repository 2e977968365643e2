"""Every training setting in one dataclass, and the presets that reproduce the published systems.

Each field carries its default, its help text (shown by `dcgan train --help`), and the values it
accepts (`choices`, `at_least`, `positive`); `TrainConfig.validate` checks all of them in one
place, and `TrainConfig.from_dict` checks the types of values read from files. A preset is a dict
of overrides on the defaults; flags override the preset; the run directory records the final
config as `config.json`, which reproduces the run. The systems S1..S5 are described in
docs/published-systems.md.

This module imports nothing heavy: `dcgan --help` reads it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .models.plan import ARCHS, check_size
from .presets import DEFAULT_PRESET, PRESET_EVIDENCE, PRESETS, PUBLISHED  # noqa: F401 (re-exported)

LOSSES = ("bce", "hinge", "lsgan", "wgan-gp")  # the names of dcgan.losses.LOSSES (a test keeps them equal)
AUGMENT_POLICIES = ("color", "translation", "cutout")  # dcgan.augment.AUGMENTS' names (a test keeps them equal)
ADA_POLICY = "color,translation,cutout"  # what --augment ada adapts: dcgan.augment.DEFAULT_POLICY
AMP_MODES = ("auto", "off", "bf16", "fp16")
SWITCHES = ("auto", "on", "off")
DIVERGENCE = ("rollback", "stop")
LR_SCALINGS = ("none", "sqrt", "linear")
Z_DISTS = ("normal", "uniform")
INITS = ("dcgan", "keras")
LOGGERS = ("none", "tensorboard")  # --log: mirrors of metrics.jsonl (dcgan.training.loggers)
SNAPSHOT_IMAGES = 10_000  # automatic --snapshot-every: at least this many images between snapshots
UNBOUNDED_EPOCHS = 1_000_000  # a new run's epochs under --max-minutes without --epochs: the budget ends it
BASE_BATCH = 128  # the batch size the published learning rates were tuned for (--lr-scaling)
AUTO_METRICS = "auto"  # --eval-metrics default: the data decides (TrainConfig.evaluation_plan)

#: Settings that --resume may change: they do not alter the recipe being trained.
RESUME_MAY_CHANGE = (
    "data",  # another spelling of the same data (the trainer checks the images are the same)
    "epochs",
    "device",
    "log_every",
    "log",
    "eval_every",
    "eval_num",
    "eval_metrics",
    "keep_checkpoints",
    "checkpoint_minutes",
    "on_divergence",
)


def setting(
    default: Any,
    help: str,
    *,
    choices: tuple[Any, ...] | None = None,
    noun: str = "value",
    at_least: float | None = None,
    at_most: float | None = None,
    below: float | None = None,
    positive: bool = False,
) -> Any:
    """A config field: its default, its help text and the values it accepts (checked by `validate`).

    choices: the allowed values (`noun` names them in the error); at_least / at_most: the smallest and
    largest allowed numbers; below: numbers must be smaller; positive: the number must be > 0. Floats
    must be finite. A mutable default (a dict) is copied per instance."""
    meta = {"help": help, "choices": choices, "noun": noun, "at_least": at_least, "at_most": at_most, "below": below}
    meta["positive"] = positive
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    # What and where.
    data: str = setting("fashion-mnist", "SOURCE: folder, .zip, CelebA root, Fashion-MNIST folder, or a name")
    split: str = setting("train", "data split to train on (CelebA / Fashion-MNIST have a test split)")
    limit: int | None = setting(None, "train on the first N images only (None: all)", at_least=1)
    size: int = setting(64, "image side in pixels; the models are built for it")
    channels: int | None = setting(None, "1 or 3; None: the source's own (1 for Fashion-MNIST, else 3)", choices=(1, 3))

    # Model.
    arch: str = setting(
        "dcgan", "dcgan (S1), dcgan-fc (S4 variant: FC heads, no BN in D), mlp (S5)", choices=ARCHS, noun="architecture"
    )
    z_dim: int = setting(100, "latent size", at_least=1, at_most=4096)
    z_dist: str = setting("normal", "normal: N(0, 1); uniform: U(-1, 1)", choices=Z_DISTS, noun="latent distribution")
    g_channels: int = setting(64, "ngf: generator width at the last hidden layer", at_least=1, at_most=4096)
    d_channels: int = setting(64, "ndf: discriminator width at the first layer", at_least=1, at_most=4096)
    d_batchnorm: bool = setting(True, "BatchNorm in D (not on its first layer), as in S1")
    mlp_hidden: int = setting(256, "hidden width of the MLP GAN (S5)", at_least=1, at_most=65536)
    init: str = setting(
        "dcgan", "dcgan: N(0, 0.02) conv, N(1, 0.02) BN; keras: Glorot uniform (S5)", choices=INITS, noun="init"
    )

    # Conditional generation (docs/conditional.md): labels as a second input of G and D.
    conditional: bool = setting(
        False, "condition G and D on the data's class labels (Fashion-MNIST, synthetic, one sub-folder per class)"
    )
    attributes: str = setting(
        "", 'CelebA attributes to condition on, comma-separated, e.g. Smiling,Male (implies conditioning; "": none)'
    )
    class_loss: float = setting(
        0.0,
        "conditional runs: weight of an auxiliary classification loss (AC-GAN): D also classifies real images, "
        "G is pushed to make fakes classified as asked (0: off)",
        at_least=0,
    )
    class_loss_g: float | None = setting(
        None,
        "with --class-loss: its weight in G's update alone (None: the same as --class-loss); lower trades class "
        "consistency for variety within each class",
        at_least=0,
    )

    # Loss and optimisation.
    loss: str = setting("bce", "bce (non-saturating, S1), hinge, lsgan, wgan-gp", choices=LOSSES, noun="loss")
    real_label: float = setting(1.0, "target for real images in the D loss (0.9: one-sided smoothing, S4)")
    gp_weight: float = setting(10.0, "gradient-penalty weight for wgan-gp", at_least=0)
    r1_gamma: float = setting(0.0, "R1 penalty on real images (0: off)", at_least=0)
    spectral_norm: bool = setting(False, "spectral normalisation on every D layer")
    ema_half_life: int = setting(0, "EMA of G weights, half-life in images (0: off); used for sampling", at_least=0)
    augment: str = setting(
        "",
        'DiffAugment policy for D\'s inputs, e.g. color,translation,cutout ("": off); ada: adaptive augmentation '
        "(each transform with a probability p that follows D's overfitting), ada:POLICY for another policy",
    )
    ada_target: float = setting(
        0.6,
        "--augment ada: p rises while E[sign(D's logits on real images)] is above this, falls while below (StyleGAN2-ADA)",
        positive=True,
        below=1,
    )
    ada_speed: int = setting(
        100_000,
        "--augment ada: images over which p can go from 0 to 1 (StyleGAN2-ADA uses 500,000; our CPU runs see far fewer)",
        at_least=1,
        at_most=10**12,
    )
    lr_g: float = setting(2e-4, "generator learning rate (Adam)", positive=True)
    lr_d: float = setting(2e-4, "discriminator learning rate (Adam)", positive=True)
    beta1: float = setting(0.5, "Adam beta1 (0.5 as in DCGAN)", at_least=0, below=1)
    beta2: float = setting(0.999, "Adam beta2", at_least=0, below=1)
    batch_size: int = setting(128, "images per step", at_least=1)
    sync_bn: bool = setting(
        False, "multi-process training: BatchNorm statistics over the global batch (SyncBatchNorm, CUDA only)"
    )
    lr_scaling: str = setting(
        "none", "large batches: none, sqrt or linear: lr x (batch_size / 128)^(1/2 or 1)", choices=LR_SCALINGS
    )
    epochs: int = setting(5, "passes over the data", at_least=1)

    # Run control.
    seed: int = setting(0, "random seed (same seed, same CPU: same weights)", at_least=0, at_most=2**32 - 1)
    device: str = setting("auto", "auto | cpu | cuda | cuda:N")
    amp: str = setting(
        "auto",
        "mixed precision: auto (bf16 on CUDA GPUs and on CPUs with native bf16, else off), off, bf16, fp16",
        choices=AMP_MODES,
    )
    channels_last: str = setting(
        "auto", "channels-last memory format: auto (on for convolutional models), on, off", choices=SWITCHES
    )
    on_divergence: str = setting(
        "rollback", "on NaN/inf: rollback (last checkpoint, half the learning rates), stop", choices=DIVERGENCE
    )
    log_every: int = setting(50, "steps between metrics.jsonl lines (and host reads of the losses)", at_least=1)
    log: str = setting(
        "none", "also mirror metrics.jsonl and the epoch grids: none, tensorboard (RUN/tensorboard/)", choices=LOGGERS
    )
    sample_grid: int = setting(64, "images in the fixed-noise grid saved after every epoch", at_least=1, at_most=1024)
    plot_every: int = setting(0, "steps between plot refreshes (0: at every epoch end)", at_least=0)
    keep_checkpoints: int = setting(3, "how many latest checkpoints to keep", at_least=1)
    checkpoint_minutes: float = setting(
        10.0, "minutes between time-based checkpoints, mid-epoch too (0: only at epoch ends)", at_least=0
    )
    snapshot_every: int = setting(
        0, "epochs between sample grid + plots + checkpoint (0: 1, or enough to span 10,000 images)", at_least=0
    )

    # Evaluation during training: by default the cheap domain FID where the data is Fashion-MNIST.
    eval_every: int | None = setting(
        None,
        "steps between evaluations during training (0: off; default: at every sample grid when the data is "
        "Fashion-MNIST, whose domain FID takes about a second; other data only when asked)",
        at_least=0,
    )
    eval_num: int = setting(2048, "generated images per evaluation", at_least=1)
    eval_metrics: str = setting(
        AUTO_METRICS,
        "metrics of the evaluations during training; the first picks best.safetensors (auto: fid_fashion on "
        "Fashion-MNIST, fid,kid elsewhere; fid and kid are TF-Inception, minutes on a CPU)",
    )

    extra: dict[str, Any] = setting({}, "free-form notes, kept in config.json")

    def validate(self) -> TrainConfig:
        """Check every field against its metadata, then the rules that tie fields together."""
        for f in dataclasses.fields(self):
            check_field(f, getattr(self, f.name))
        if not 0.0 < self.real_label <= 1.0:
            raise ConfigError(f"--real-label: must be in (0, 1], got {self.real_label}")
        from .metrics.registry import parse_eval_metrics

        try:
            if self.eval_metrics != AUTO_METRICS:
                parse_eval_metrics(self.eval_metrics)
        except ValueError as e:
            raise ConfigError(f"--eval-metrics: {e}") from None
        check_size(self.arch, self.size)
        if self.sync_bn and self.arch == "mlp":  # the one architecture without BatchNorm layers (models/mlp.py)
            raise ConfigError("--sync-bn: the mlp architecture has no BatchNorm layers to synchronise; drop --sync-bn")
        check_attributes(self.attributes)
        check_augment(self)
        if self.class_loss > 0 and not self.is_conditional():
            raise ConfigError("--class-loss: needs a conditional run; add --conditional (or --attributes), or drop it")
        if self.class_loss_g is not None and self.class_loss <= 0:
            raise ConfigError("--class-loss-g: weighs the class loss in G's update; add --class-loss W, or drop it")
        if self.class_loss > 0 and self.arch == "mlp":
            raise ConfigError(
                "--class-loss: the mlp architecture's D reads the label in its first layer, so a class head there "
                "could read the label instead of the image; use --arch dcgan or drop --class-loss"
            )
        return self

    def evaluation_plan(self, fashion: bool) -> tuple[int, bool, str]:
        """When and what a run evaluates during training, on data that is Fashion-MNIST (`fashion`) or not:
        (every how many steps, 0: not by steps; whether at every sample grid; the metrics, first = selection).
        --eval-every N (> 0) evaluates every N steps, 0 never; left out, at every grid on Fashion-MNIST."""
        metrics = self.eval_metrics
        if metrics == AUTO_METRICS:
            metrics = "fid_fashion" if fashion else "fid,kid"
        if self.eval_every is None:
            return 0, fashion, metrics
        return self.eval_every, False, metrics

    def is_conditional(self) -> bool:
        """Whether G and D take labels: --conditional (classes) or --attributes (CelebA attributes)."""
        return self.conditional or bool(self.attributes.strip())

    def snapshot_epochs(self, num_images: int) -> int:
        """Epochs between end-of-epoch snapshots: every epoch (S1) unless epochs are tiny, where a
        grid, plots and a checkpoint per epoch would cost more than the training itself."""
        if self.snapshot_every:
            return self.snapshot_every
        return max(1, -(-SNAPSHOT_IMAGES // max(1, num_images)))

    def effective_lrs(self) -> tuple[float, float]:
        """(lr_g, lr_d) after --lr-scaling for this batch size (sqrt: Adam's usual rule; linear: SGD's)."""
        power = {"none": 0.0, "sqrt": 0.5, "linear": 1.0}[self.lr_scaling]
        factor = (self.batch_size / BASE_BATCH) ** power
        return self.lr_g * factor, self.lr_d * factor

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str = "config") -> TrainConfig:
        """A config from plain data (a config.json, a --config file, a checkpoint header): unknown
        keys and values of the wrong type are refused naming `where`; ints are accepted for floats."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ConfigError(f"{where}: unknown keys {', '.join(unknown)}; see `dcgan train --dry-run` for the fields")
        typed = {key: coerce(fields[key], value, where) for key, value in values.items()}
        return cls(**typed)


def field_kind(f: dataclasses.Field) -> str:
    """The field's annotation as written ('int', 'float', 'int | None', ...)."""
    return str(f.type)


def coerce(f: dataclasses.Field, value: Any, where: str) -> Any:
    """`value` if it has the field's type (an int for a float field becomes a float), else ConfigError."""
    kind = field_kind(f)
    base = kind.split("|")[0].strip()
    if value is None and "None" in kind:
        return None
    ok = {
        "bool": lambda v: isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
    }.get(base, lambda v: isinstance(v, dict))(value)
    if not ok:
        raise ConfigError(f"{where}: {f.name} = {value!r} is not a {kind}")
    return float(value) if base == "float" else value


def flag_name(name: str) -> str:
    """The command-line flag of a field: batch_size -> --batch-size."""
    return "--" + name.replace("_", "-")


def check_field(f: dataclasses.Field, value: Any) -> None:
    """Refuse a value outside what the field's metadata allows, naming its flag."""
    meta, flag = f.metadata, flag_name(f.name)
    if value is None:
        return
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        if isinstance(value, str):
            raise ConfigError(f"{flag}: unknown {meta['noun']} {value!r}; choose one of {', '.join(map(str, choices))}")
        raise ConfigError(f"{flag}: must be {' or '.join(map(str, choices))}, got {value}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{flag}: must be a finite number, got {value}")
    if meta.get("at_least") is not None and value < meta["at_least"]:
        raise ConfigError(f"{flag}: must be at least {meta['at_least']}, got {value}")
    if meta.get("at_most") is not None and value > meta["at_most"]:
        raise ConfigError(f"{flag}: must be at most {meta['at_most']}, got {value}")
    if meta.get("below") is not None and not value < meta["below"]:
        raise ConfigError(f"{flag}: must be below {meta['below']}, got {value}")
    if meta.get("positive") and not value > 0:
        raise ConfigError(f"{flag}: must be positive, got {value}")


def split_augment(text: str) -> tuple[str, bool]:
    """--augment as (DiffAugment policy, adaptive): "ada" -> (ADA_POLICY, True), "ada:translation" ->
    ("translation", True), "color" -> ("color", False), "" -> ("", False); unknown names: ConfigError."""
    text = text.strip()
    if text == "ada":
        return ADA_POLICY, True
    adaptive = text.startswith("ada:")
    names = [n.strip() for n in (text[4:] if adaptive else text).split(",") if n.strip()]
    for name in names:
        if name not in AUGMENT_POLICIES:
            raise ConfigError(
                f"--augment: unknown policy {name!r}; choose from {', '.join(AUGMENT_POLICIES)} (comma-separated), "
                "or ada, or ada:POLICY"
            )
    if adaptive and not names:
        raise ConfigError(f"--augment {text!r}: name the policy to adapt after 'ada:', e.g. ada:translation,cutout")
    return ",".join(names), adaptive


def check_augment(config: TrainConfig) -> None:
    """--augment names known policies; the --ada-* settings are only given with --augment ada."""
    _, adaptive = split_augment(config.augment)
    if adaptive:
        return
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.name.startswith("ada_")}
    for name, default in defaults.items():
        if getattr(config, name) != default:
            raise ConfigError(f"{flag_name(name)}: only used with --augment ada; add --augment ada or drop it")


def check_attributes(text: str) -> None:
    """Refuse an --attributes value that is not comma-separated names (the names are checked against the data)."""
    names = [n.strip() for n in text.split(",")] if text.strip() else []
    for name in names:
        if not name or not all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in name):
            raise ConfigError(f"--attributes {text!r}: {name!r} is not an attribute name; give names like Smiling,Male")
    if len(set(names)) != len(names):
        raise ConfigError(f"--attributes {text!r}: an attribute is named twice")


def resolve_config(preset: str | None = None, overrides: Mapping[str, Any] | None = None, **kw: Any) -> TrainConfig:
    """Preset defaults (None: the default preset, adapted to --data), then every override that is not None.

    `resolve_config("fashion-best", epochs=2)` and `resolve_config("fashion-best", {"epochs": 2})` agree."""
    name = preset or DEFAULT_PRESET
    if name not in PRESETS:
        raise ConfigError(f"--preset: unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    given = {k: v for k, v in {**(overrides or {}), **kw}.items() if v is not None}
    values: dict[str, Any] = dict(PRESETS[name])
    if preset is None and "data" in given:
        values.update(source_defaults(given["data"]))
    values.update(given)
    values["extra"] = dict(values.get("extra") or {}, preset=name)
    return TrainConfig.from_dict(values).validate()


def source_defaults(data: str) -> dict[str, Any]:
    """What the default preset (Fashion-MNIST at 28 px gray) changes for another SOURCE given without a
    preset: an image folder, zip or CelebA trains at 64 px in its own channels. Empty for Fashion-MNIST."""
    from .data.sources import source_channels  # numpy and Pillow, no torch: only when asked

    if data == "synthetic" or source_channels(data) == 1:
        return {}
    return {"size": 64, "channels": None}


def resume_config(saved: TrainConfig, changes: Mapping[str, Any], preset: str | None = None) -> TrainConfig:
    """The one resume rule: the saved recipe, with only the RESUME_MAY_CHANGE settings taken from
    `changes` (values that are None are ignored). A recipe setting that differs from the saved one,
    or another preset, is refused in one line naming the flags."""
    base = saved.to_dict()
    given = {k: v for k, v in changes.items() if v is not None}
    differ = [k for k, v in given.items() if k not in RESUME_MAY_CHANGE and base.get(k) != v]
    if preset is not None and preset != base.get("extra", {}).get("preset"):
        differ.append("preset")
    if differ:
        raise ConfigError(
            f"--resume continues the saved recipe; {', '.join(flag_name(k) for k in differ)} differ from it "
            f"(only {', '.join(flag_name(k) for k in RESUME_MAY_CHANGE)} may change)"
        )
    base.update({k: v for k, v in given.items() if k in RESUME_MAY_CHANGE})
    return TrainConfig.from_dict(base)


def resolve_data(data: str) -> str:
    """A SOURCE that is a path, as an absolute path (so the run resumes from any working directory);
    names (fashion-mnist, synthetic, celeba) as they are."""
    path = Path(data).expanduser()
    return str(path.resolve()) if path.exists() else data


def with_resume_record(saved: TrainConfig, config: TrainConfig, step: int) -> TrainConfig:
    """`config` with this resume noted in extra["resumes"]: the step, and each setting it changed as
    [before, after] (config.json keeps the history of a run's resumes)."""
    before, after = saved.to_dict(), config.to_dict()
    changed = {k: [before[k], after[k]] for k in RESUME_MAY_CHANGE if before[k] != after[k]}
    resumes = [*saved.extra.get("resumes", []), {"step": step, "changed": changed}]
    return dataclasses.replace(config, extra=dict(config.extra, resumes=resumes))


def load_config_file(path: str | Path) -> tuple[str | None, dict[str, Any]]:
    """Read a --config file: JSON or TOML, parsed as plain data (no tags, no code), keys = config
    fields (as in a run's config.json) plus an optional "preset". Returns (preset, values)."""
    import tomllib

    p = Path(path)
    where = f"--config {path}"
    if p.suffix.lower() not in (".json", ".toml"):
        raise ConfigError(f"{where}: use a .json or .toml file (keys are the config fields, see --dry-run)")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{where}: cannot read it ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text; a config file is JSON or TOML") from None
    try:
        raw = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, RecursionError) as e:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise ConfigError(f"{where}: not valid {p.suffix[1:].upper()}: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table of config fields at the top level")
    preset = raw.pop("preset", None)
    if preset is not None and not isinstance(preset, str):
        raise ConfigError(f"{where}: preset must be a name, got {preset!r}")
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown keys {', '.join(unknown)}; see `dcgan train --dry-run` for the fields")
    return preset, {key: coerce(fields[key], value, where) for key, value in raw.items()}
