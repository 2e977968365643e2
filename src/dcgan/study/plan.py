"""What a data-size study is: its settings (parsed and checked), its runs, and the numbers it reports.

A study trains the same recipe on the first N images of a source for several N (`--limits`), with
each augmentation mode (`--augment`) and seed (`--seeds`), and evaluates every run. This module holds
the parts without torch: parsing the flags into `Settings`, the list of `Run`s, the refusal of a
different study in the same folder, and the mean and standard deviation over seeds.
"""

from __future__ import annotations

import dataclasses
import math
import shlex
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

#: --augment modes and the config's `augment` value for each ("ada": adaptive augmentation).
AUGMENT_MODES = {"none": "", "fixed": "color,translation,cutout", "ada": "ada"}
#: Config fields a study sets itself: --set may not name them.
STUDY_FIELDS = {
    "data": "--data",
    "limit": "--limits",
    "seed": "--seeds",
    "augment": "--augment",
    "epochs": "--epochs",
    "device": "--device",
}
#: The epoch bound of a --seconds budget: the clock stops the run long before.
SECONDS_EPOCH_CAP = 1_000_000
#: Metric keys that are not aggregated over seeds (KID's own spread over its subsets).
NOT_AGGREGATED = ("kid_std",)
#: Metrics whose relative change against --augment none the summary gives (row["vs_none"]: mean / none's mean - 1).
LOWER_IS_BETTER = ("fid", "kid", "fid_fashion")
FORMAT = "dcgan-study-v1"


def parse_limits(text: str) -> tuple[int | str, ...]:
    """'1000,100,all,100' -> (100, 1000, 'all'): positive ints ascending, then 'all'; repeats dropped."""
    numbers: set[int] = set()
    whole = False
    items = [item.strip().lower() for item in str(text).split(",")]
    if not any(items):
        raise ConfigError(f"--limits {text!r}: give image counts, e.g. 100,1000,5000,all")
    for item in items:
        if item == "all":
            whole = True
            continue
        try:
            value = int(item)
        except ValueError:
            raise ConfigError(
                f"--limits {text}: {item!r} is not a number of images or 'all'; give e.g. 100,1000,5000,all"
            ) from None
        if value < 1:
            raise ConfigError(f"--limits {text}: {value} is not a positive number of images; give e.g. 100,1000,all")
        numbers.add(value)
    return (*sorted(numbers), *(("all",) if whole else ()))


def parse_augments(text: str) -> tuple[str, ...]:
    """'none,fixed' -> ('none', 'fixed'): the modes in the order given, repeats dropped."""
    modes: list[str] = []
    for item in str(text).split(","):
        name = item.strip().lower()
        if name not in AUGMENT_MODES:
            shown = name or "''"
            raise ConfigError(
                f"--augment {text}: unknown mode {shown}; choose from {', '.join(AUGMENT_MODES)} (comma-separated)"
            )
        if name not in modes:
            modes.append(name)
    return tuple(modes)


def parse_sets(items: Iterable[str], reserved: Mapping[str, str] | None = None) -> dict[str, Any]:
    """['loss=hinge', 'g_channels=8'] -> {'loss': 'hinge', 'g_channels': 8}: typed by the TrainConfig field.

    KEY may use dashes (g-channels); the value's range is checked later by TrainConfig.validate.
    reserved: fields --set may not name -> the flag to use instead (default: those the study sets)."""
    reserved = STUDY_FIELDS if reserved is None else reserved
    from ..config import TrainConfig

    fields = {f.name: str(f.type) for f in dataclasses.fields(TrainConfig) if f.name != "extra"}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            raise ConfigError(f"--set {item}: expected KEY=VALUE with KEY a config field (see `dcgan train --help`)")
        if key in reserved:
            raise ConfigError(f"--set {item}: the study sets {key} itself; use {reserved[key]}")
        out[key] = _typed(key, fields[key], raw.strip(), item)
    return out


def _typed(key: str, kind: str, raw: str, item: str) -> Any:
    base = kind.split("|")[0].strip()
    if "None" in kind and raw.lower() in ("none", ""):
        return None
    try:
        if base == "bool":
            words = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False}
            words["off"] = False
            return words[raw.lower()]
        if base == "int":
            return int(raw)
        if base == "float":
            return float(raw)
    except (KeyError, ValueError):
        kind_name = {"bool": "true or false", "int": "a whole number", "float": "a number"}[base]
        raise ConfigError(f"--set {item}: {key} takes {kind_name}, not {raw!r}") from None
    return raw


@dataclass(frozen=True)
class Budget:
    """How long each run trains: exactly one of seconds, epochs, steps (none: the preset's epochs)."""

    seconds: float | None = None
    epochs: int | None = None
    steps: int | None = None

    def __post_init__(self) -> None:
        given = [f"--{k}" for k in ("seconds", "epochs", "steps") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ConfigError(f"{' and '.join(given)}: give one training budget, not {len(given)}")
        if self.seconds is not None and not (math.isfinite(self.seconds) and self.seconds > 0):
            raise ConfigError(f"--seconds {self.seconds}: must be a positive number of seconds")
        for name in ("epochs", "steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{name} {value}: must be at least 1")

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Settings:
    """Everything that defines a study (two studies with different Settings never share a folder)."""

    data: str
    limits: tuple[int | str, ...]
    augments: tuple[str, ...] = ("none",)
    seeds: int = 1
    budget: Budget = field(default_factory=Budget)
    preset: str | None = None
    sets: Mapping[str, Any] = field(default_factory=dict)
    metrics: tuple[str, ...] = ("fid", "kid")
    num: int = 10000

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise ConfigError(f"--seeds {self.seeds}: must be at least 1")
        if self.num < 2:
            raise ConfigError(f"--num {self.num}: the metrics need at least 2 images per set")

    def identity(self) -> dict[str, Any]:
        """The settings as JSON data: what study.json records and a rerun must match."""
        return {
            "data": self.data,
            "limits": list(self.limits),
            "augment": list(self.augments),
            "seeds": self.seeds,
            "budget": self.budget.as_dict(),
            "preset": self.preset,
            "set": dict(sorted(self.sets.items())),
            "metrics": list(self.metrics),
            "num": self.num,
        }

    def command(self, out: str) -> str:
        """The `dcgan study` command line that makes (and continues) this study."""
        args = ["dcgan", "study", "--data", self.data, "--limits", ",".join(map(str, self.limits))]
        args += ["--augment", ",".join(self.augments), "--seeds", str(self.seeds)]
        args += [x for k, v in self.budget.as_dict().items() for x in (f"--{k}", str(v))]
        args += ["--preset", self.preset] if self.preset else []
        args += [x for k, v in sorted(self.sets.items()) for x in ("--set", f"{k}={v}")]
        args += ["--metrics", ",".join(self.metrics), "--num", str(self.num), "--out", out]
        return shlex.join(args)

    def runs(self) -> list[Run]:
        """Every run, limits outermost, then augmentation modes, then seeds."""
        return [Run(limit, mode, seed) for limit in self.limits for mode in self.augments for seed in range(self.seeds)]


FLAGS = {
    "data": "--data",
    "limits": "--limits",
    "augment": "--augment",
    "seeds": "--seeds",
    "budget": "the budget (--seconds/--epochs/--steps)",
    "preset": "--preset",
    "set": "--set",
    "metrics": "--metrics",
    "num": "--num",
}


def check_same_study(saved: Mapping[str, Any], settings: Settings, out: str) -> None:
    """Refuse, in one line, to continue the study in `out` with other settings (naming what differs)."""
    current = settings.identity()
    differ = [key for key in current if saved.get(key) != current[key]]
    if differ:
        shown = "; ".join(f"{FLAGS.get(k, k)}: {_show(saved.get(k))} there, {_show(current[k])} now" for k in differ)
        raise ConfigError(
            f"--out {out} holds another study ({shown}); rerun with its settings to continue it, "
            "or choose another --out for this one"
        )


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "''"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "none"
    return str(value)


@dataclass(frozen=True)
class Run:
    """One training run of the study: the first `limit` images ('all': the whole split), a mode, a seed."""

    limit: int | str
    augment: str
    seed: int

    @property
    def name(self) -> str:
        """Its folder under runs/: `<limit>-<augment>-seed<k>`."""
        return f"{self.limit}-{self.augment}-seed{self.seed}"

    def overrides(self, data: str) -> dict[str, Any]:
        """The config fields this run sets on top of the study's recipe."""
        return {
            "data": data,
            "limit": None if self.limit == "all" else int(self.limit),
            "augment": AUGMENT_MODES[self.augment],
            "seed": self.seed,
        }


def check_limits(limits: Sequence[int | str], size: int, where: str) -> None:
    """Refuse a limit larger than the data (a study must say how many images each point used)."""
    over = [n for n in limits if n != "all" and int(n) > size]
    if over:
        raise ConfigError(
            f"--limits {','.join(map(str, limits))}: {where} has only {size} training images, fewer than "
            f"{over[0]}; use limits up to {size} (or 'all')"
        )


def metric_values(result: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of an evaluation result to keep per run: every metric key of the metrics it computed."""
    from ..metrics.registry import METRICS

    keys = [k for name in result.get("metrics", []) if name in METRICS for k in METRICS[name].keys]
    return {k: float(result[k]) for k in keys if isinstance(result.get(k), (int, float))}


def mean_std(values: Sequence[float]) -> dict[str, Any]:
    """{'mean', 'std', 'n', 'values'}: std is the sample standard deviation (n - 1), None for one value."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("mean_std of no values")
    return {
        "mean": statistics.fmean(vals),
        "std": statistics.stdev(vals) if len(vals) > 1 else None,
        "n": len(vals),
        "values": vals,
    }


def summarise(records: Sequence[Mapping[str, Any]], settings: Settings) -> list[dict[str, Any]]:
    """Per (limit, augment), in the study's order: the images used and each metric's mean and std over the
    finished seeds; beside a finished --augment none cell of the same limit, "vs_none": each lower-is-better
    metric's relative change of the mean (-0.3: 30% lower). A pair without a finished run is left out."""
    rows = []
    for limit in settings.limits:
        for mode in settings.augments:
            done = [r for r in records if r["limit"] == limit and r["augment"] == mode and r.get("status") == "done"]
            if not done:
                continue
            keys = [k for k in done[0]["metrics"] if k not in NOT_AGGREGATED]
            metrics = {
                k: mean_std([r["metrics"][k] for r in done if k in r["metrics"]])
                for k in keys
                if any(k in r["metrics"] for r in done)
            }
            rows.append(
                {
                    "limit": limit,
                    "augment": mode,
                    "images": done[0]["images"],
                    "seeds": [r["seed"] for r in done],
                    "metrics": metrics,
                }
            )
    baseline = {r["limit"]: r["metrics"] for r in rows if r["augment"] == "none"}
    for row in rows:
        base = baseline.get(row["limit"]) if row["augment"] != "none" else None
        if base:
            row["vs_none"] = {
                k: stats["mean"] / base[k]["mean"] - 1.0
                for k, stats in row["metrics"].items()
                if k in LOWER_IS_BETTER and k in base and base[k]["mean"] > 0
            }
    return rows


def describe(record: dict[str, Any]) -> str:
    """One run in a few words: steps, seconds, images, metrics."""
    values = ", ".join(f"{k} {v:.4g}" for k, v in record.get("metrics", {}).items() if k != "kid_std")
    return f"{record.get('step', 0)} steps, {record.get('train_seconds', 0.0):.1f} s, {record['images']} images" + (
        f"; {values}" if values else ""
    )
