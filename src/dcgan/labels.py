"""What a conditional model is conditioned on: `Condition` (classes or attributes), and every label choice.

A conditional run conditions G and D on the labels its data carries: class indices (Fashion-MNIST,
synthetic shapes, an image folder with one sub-folder per class) or a chosen subset of CelebA's
binary attributes (a {-1, 1} vector per image). `Condition` records what a checkpoint needs about
them: the kind, the names, the label distribution of the training data (images per class, or the
attribute rows with their counts) and a sha256 of the training labels (checked on resume).

Label choices, each deterministic for a seed:

- training fakes: the labels of training images drawn uniformly at random (the empirical class
  frequencies, or real attribute rows), from the run's z stream (`DeviceBatches.batch_labels`);
- default labels when sampling (`LabelStream`): classes round-robin (image i gets class i mod K),
  attributes drawn from the training rows by their counts;
- the fixed-noise grid (`grid_labels`): one row per class, or per attribute setting (the 2^k
  combinations for k <= 3 attributes, else 8 fixed real rows), the same latent in each column;
- a user's request (`Condition.labels_for`): a class by name or index, attributes by name, with
  the unspecified attributes drawn from training rows that agree with the ones given.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .errors import CheckpointError, DataError, DcganError

if TYPE_CHECKING:  # pragma: no cover
    from .config import TrainConfig
    from .data.batches import DeviceBatches
    from .data.store import PackedStore

CLASS, ATTRIBUTES = "class", "attributes"
MAX_ROWS = 4096  # attribute rows kept in a checkpoint: all distinct rows, or a fixed sample of this many
GRID_COMBINATIONS = 3  # up to this many attributes, the grid shows every combination (2^k rows)
GRID_REAL_ROWS = 8  # more attributes: this many fixed real rows
CHUNK = 256  # labels drawn per chunk (as latents are): the same labels whatever the batch size
TRUE, FALSE = ("1", "true", "yes", "+1", "+"), ("0", "-1", "false", "no", "-")


def labels_sha256(labels: np.ndarray) -> str:
    """sha256 of a label array's dtype, shape and bytes."""
    h = hashlib.sha256(f"{labels.dtype.str}{labels.shape}".encode())
    h.update(np.ascontiguousarray(labels).data)
    return h.hexdigest()


def row_key(row: np.ndarray | list[int]) -> str:
    """An attribute row in {-1, 1} as a string of '+' and '-' (the checkpoint's form)."""
    return "".join("+" if v > 0 else "-" for v in row)


@dataclass(frozen=True)
class Condition:
    """What a conditional model is conditioned on, and the training data's label distribution.

    kind: "class" (labels are indices 0..K-1) or "attributes" (labels are {-1, 1} vectors of length A).
    names: the class names or attribute names. counts: images per class; for attributes, the count of
    each row in `rows` ('+-+' strings; all distinct rows, or a fixed sample of MAX_ROWS when there are
    more). sha256: of the training label array."""

    kind: str
    names: tuple[str, ...]
    counts: tuple[int, ...]
    rows: tuple[str, ...] = ()
    sha256: str = ""

    @property
    def size(self) -> int:
        """K classes or A attributes: the width of the label input."""
        return len(self.names)

    def describe(self) -> str:
        what = "classes" if self.kind == CLASS else "attributes"
        return f"{len(self.names)} {what} ({', '.join(self.names[:12])}{', ...' if len(self.names) > 12 else ''})"

    # -- checkpoint metadata ----------------------------------------------------------------

    def to_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"kind": self.kind, "names": list(self.names), "counts": list(self.counts)}
        if self.kind == ATTRIBUTES:
            meta["rows"] = list(self.rows)
        meta["sha256"] = self.sha256
        return meta

    @classmethod
    def from_meta(cls, value: Any, where: object) -> Condition:
        """The condition recorded in a checkpoint (untrusted): type-checked, or one CheckpointError."""

        def bad(what: str) -> CheckpointError:
            return CheckpointError(f"{where}: damaged checkpoint metadata (extra.labels: {what})")

        if not isinstance(value, dict):
            raise bad("missing or not an object; a conditional run records its labels")
        kind, names, counts = value.get("kind"), value.get("names"), value.get("counts")
        rows, sha = value.get("rows", []), value.get("sha256", "")
        if kind not in (CLASS, ATTRIBUTES):
            raise bad(f"kind {str(kind)[:20]!r}")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise bad("names must be a non-empty list of strings")
        if len(names) > 100_000:
            raise bad(f"{len(names)} names")
        ints = isinstance(counts, list) and all(isinstance(c, int) and not isinstance(c, bool) for c in counts)
        if not ints or any(c < 0 for c in counts):
            raise bad("counts must be a list of counts")
        if kind == CLASS and len(counts) != len(names):
            raise bad(f"{len(counts)} counts for {len(names)} classes")
        if kind == ATTRIBUTES:
            good = isinstance(rows, list) and all(
                isinstance(r, str) and len(r) == len(names) and set(r) <= {"+", "-"} for r in rows
            )
            if not good or len(rows) != len(counts) or not rows:
                raise bad("rows must be '+'/'-' strings, one per count, each as long as the names")
        if sum(counts) <= 0:
            raise bad("no labelled images")
        if not isinstance(sha, str):
            raise bad("sha256 must be a string")
        return cls(kind, tuple(names), tuple(counts), tuple(rows) if kind == ATTRIBUTES else (), sha)

    # -- label tensors ------------------------------------------------------------------------

    def row_array(self) -> np.ndarray:
        """The attribute rows as float32 (R, A) in {-1, 1}."""
        return np.array([[1.0 if ch == "+" else -1.0 for ch in row] for row in self.rows], dtype=np.float32)

    def as_tensor(self, labels: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Labels as the networks take them: int64 (N,) class indices, or float32 (N, A) in {-1, 1}."""
        t = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels)
        return t.long() if self.kind == CLASS else t.float()

    def stream(self, seed: int) -> LabelStream:
        """The default labels of a seed, in order (see `LabelStream`)."""
        return LabelStream(self, seed)

    def default_labels(self, num: int, seed: int = 0) -> torch.Tensor:
        """The first `num` default labels of a seed: classes round-robin, attributes drawn from the data."""
        return self.stream(seed).take(num)

    def label_text(self, label: torch.Tensor) -> str:
        """One image's label for people and provenance tags: 'Ankle boot', or 'Smiling=1,Male=0'."""
        if self.kind == CLASS:
            return self.names[int(label)]
        return ",".join(f"{n}={1 if float(v) > 0 else 0}" for n, v in zip(self.names, label.tolist(), strict=True))

    def grid_labels(self) -> tuple[torch.Tensor, list[str]]:
        """The rows of the fixed-noise grid: (one label per row, the row's text)."""
        if self.kind == CLASS:
            rows = torch.arange(self.size)
        elif self.size <= GRID_COMBINATIONS:
            rows = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=self.size)))
        else:
            real = self.row_array()
            rng = np.random.default_rng(0)
            pick = rng.choice(len(real), size=GRID_REAL_ROWS, p=self.probabilities())
            rows = torch.from_numpy(real[pick])
        return rows, [self.label_text(r) for r in rows]

    def probabilities(self) -> np.ndarray:
        counts = np.asarray(self.counts, np.float64)
        return counts / counts.sum()

    # -- a user's request ---------------------------------------------------------------------

    def class_index(self, value: str | int) -> int:
        """A class by index or by name (case-insensitive); DcganError listing the names on a typo."""
        if self.kind != CLASS:
            raise DcganError(
                f"--class: this model is conditioned on attributes ({', '.join(self.names)}), not classes; "
                "use --attributes NAME=1,..."
            )
        text = str(value).strip()
        if text.lstrip("-").isdigit():
            index = int(text)
            if not 0 <= index < self.size:
                raise DcganError(f"--class {text}: index out of range; choose 0..{self.size - 1} or a name")
            return index
        folded = {n.casefold(): i for i, n in enumerate(self.names)}
        if text.casefold() not in folded:
            valid = ", ".join(f"{i} {n!r}" for i, n in enumerate(self.names))
            raise DcganError(f"--class {text!r}: no such class; choose a name or index: {valid}")
        return folded[text.casefold()]

    def parse_attributes(self, spec: str | dict[str, Any]) -> dict[int, float]:
        """'Smiling=1,Eyeglasses=0' (or {'Smiling': 1, ...}) -> {column: +1.0 / -1.0}; names case-insensitive."""
        if self.kind != ATTRIBUTES:
            raise DcganError("--attributes: this model is conditioned on classes, not attributes; use --class NAME")
        if isinstance(spec, str):
            pairs = []
            for part in filter(None, (p.strip() for p in spec.split(","))):
                if "=" not in part:
                    raise DcganError(f"--attributes {spec!r}: write NAME=1 or NAME=0, comma-separated")
                name, _, value = part.partition("=")
                pairs.append((name.strip(), value.strip()))
        else:
            pairs = [(str(k), str(v)) for k, v in spec.items()]
        if not pairs:
            raise DcganError(f"--attributes {spec!r}: give NAME=1 or NAME=0 for at least one attribute")
        folded = {n.casefold(): i for i, n in enumerate(self.names)}
        chosen: dict[int, float] = {}
        for name, value in pairs:
            if name.casefold() not in folded:
                raise DcganError(f"--attributes: unknown attribute {name!r}; this model has {', '.join(self.names)}")
            v = value.lower()
            if v not in TRUE + FALSE:
                raise DcganError(f"--attributes {name}={value}: the value must be 1 (present) or 0 (absent)")
            chosen[folded[name.casefold()]] = 1.0 if v in TRUE else -1.0
        return chosen

    def labels_for(
        self,
        class_: str | int | None = None,
        attributes: str | dict[str, Any] | None = None,
        num: int = 1,
        seed: int = 0,
    ) -> torch.Tensor:
        """Labels for `num` images: a class (name or index) for all of them, or the given attributes with
        the others drawn from training rows that agree with them (all rows when none agrees); nothing
        given: the default labels of the seed."""
        if class_ is not None and attributes is not None:
            raise DcganError("give --class or --attributes, not both")
        if class_ is not None:
            return torch.full((num,), self.class_index(class_), dtype=torch.long)
        if attributes is None:
            return self.default_labels(num, seed)
        chosen = self.parse_attributes(attributes)
        rows, p = self.row_array(), self.probabilities()
        agree = np.all([rows[:, c] == v for c, v in chosen.items()], axis=0)
        if agree.any() and p[agree].sum() > 0:
            rows, p = rows[agree], p[agree] / p[agree].sum()
        pick = np.random.default_rng([seed, 1]).choice(len(rows), size=num, p=p)
        out = torch.from_numpy(rows[pick].copy())
        for c, v in chosen.items():
            out[:, c] = v
        return out


class LabelStream:
    """The default labels of a seed, in order: `take(n)` returns the next n, the same however the stream is
    cut. Classes go round-robin; attribute rows are drawn by their counts in chunks of CHUNK."""

    def __init__(self, condition: Condition, seed: int) -> None:
        self.condition, self.position = condition, 0
        self.rng = np.random.default_rng([seed, 1])
        self.buffer = np.empty((0, condition.size), np.float32)

    def take(self, num: int) -> torch.Tensor:
        c = self.condition
        if c.kind == CLASS:
            out = torch.arange(self.position, self.position + num) % c.size
            self.position += num
            return out
        rows, p, parts = c.row_array(), c.probabilities(), []
        while num > 0:
            if not len(self.buffer):
                self.buffer = rows[self.rng.choice(len(rows), size=CHUNK, p=p)]
            part, self.buffer = self.buffer[:num], self.buffer[num:]
            parts.append(part)
            num -= len(part)
        return torch.from_numpy(np.concatenate(parts) if parts else np.empty((0, c.size), np.float32))


# ---------------------------------------------------------------------------------------------
# Training: which labels of the data a run conditions on.


def attribute_list(text: str) -> list[str]:
    """'Smiling, Male' -> ['Smiling', 'Male'] (the config's `attributes`); ConfigError on a malformed list."""
    from .config import check_attributes

    check_attributes(text)
    return [n.strip() for n in text.split(",")] if text.strip() else []


def training_condition(config: TrainConfig, store: PackedStore) -> tuple[Condition, np.ndarray] | None:
    """(Condition, the training labels) for a conditional config; None for an unconditional one.

    Refuses in one line: a source without class labels, --attributes on a source without attributes,
    unknown attribute names (listing the valid ones), a single class."""
    source = config.data
    wanted = attribute_list(config.attributes)
    if wanted:
        if store.attributes is None or not store.attribute_names:
            raise DataError(
                f"--attributes: {source} has no attributes; only CelebA (its list_attr_celeba.txt) carries them; "
                "use --conditional for class labels"
            )
        folded = {n.casefold(): i for i, n in enumerate(store.attribute_names)}
        unknown = [n for n in wanted if n.casefold() not in folded]
        if unknown:
            raise DataError(
                f"--attributes: unknown attribute {unknown[0]!r}; {source} has {', '.join(store.attribute_names)}"
            )
        columns = [folded[n.casefold()] for n in wanted]
        labels = np.ascontiguousarray(store.attributes[:, columns]).astype(np.int8)
        counts = Counter(row_key(r) for r in labels)
        if len(counts) <= MAX_ROWS:
            rows, numbers = zip(*sorted(counts.items()), strict=True)
        else:
            pick = np.sort(np.random.default_rng(0).choice(len(labels), size=MAX_ROWS, replace=False))
            rows, numbers = tuple(row_key(labels[i]) for i in pick), (1,) * MAX_ROWS
        names = tuple(store.attribute_names[c] for c in columns)
        return Condition(ATTRIBUTES, names, tuple(numbers), tuple(rows), labels_sha256(labels)), labels
    if not config.conditional:
        return None
    if store.labels is None or not store.class_names:
        raise DataError(f"--conditional: {source} has no class labels; {no_class_hint(store)}")
    labels = np.ascontiguousarray(store.labels).astype(np.int64)
    if len(store.class_names) < 2:
        raise DataError(
            f"--conditional: {source} has only one class ({store.class_names[0]!r}); conditioning needs two or "
            "more (one sub-folder per class)"
        )
    counts = np.bincount(labels, minlength=len(store.class_names))
    return Condition(CLASS, tuple(store.class_names), tuple(int(c) for c in counts), (), labels_sha256(labels)), labels


def no_class_hint(store: PackedStore) -> str:
    """What to do about a source without class labels (for folders and zips: which images lack one)."""
    kind = store.manifest.get("kind")
    if kind in ("folder", "zip"):
        from .data.files import class_layout_problem

        return class_layout_problem(str(store.manifest.get("resolved")), kind)
    if kind == "celeba":
        names = ", ".join(store.attribute_names or [])
        return f"CelebA has attributes, not classes: choose some with --attributes Smiling,Male (it has {names})"
    return "use an image folder with one sub-folder per class (ROOT/<class>/<image>), or Fashion-MNIST"


def attach_labels(config: TrainConfig, data: DeviceBatches) -> Condition | None:
    """Give `data` the labels a conditional config trains on (None, and nothing attached, otherwise)."""
    found = training_condition(config, data.store)
    if found is None:
        return None
    condition, labels = found
    data.use_labels(condition.as_tensor(labels), condition)
    return condition


def check_same_labels(recorded: Any, condition: Condition | None, source: str) -> None:
    """Resume only on the labels the run was trained on: names and label sha256 must match the checkpoint's."""
    if recorded is None and condition is None:
        return
    before = Condition.from_meta(recorded, "checkpoint") if recorded is not None else None
    if (
        condition is not None
        and before is not None
        and (before.names, before.sha256)
        == (
            condition.names,
            condition.sha256,
        )
    ):
        return
    now = f"{condition.describe()}, sha256 {condition.sha256[:12]}" if condition else "no labels"
    then = f"{before.describe()}, sha256 {before.sha256[:12]}" if before else "no labels"
    raise DataError(
        f"--data {source}: the labels differ from those this run was trained on (now {now}; the run had {then}); "
        "resume with the same labels, or start a new --out"
    )
