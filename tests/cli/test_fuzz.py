"""A fuzz of every flag of every `dcgan` subcommand, and of every SOURCE and --config kind.

Each case runs the real command (in-process, through click's runner, which is much faster than a
process) with one bad value: out of range, the wrong type, empty, unknown, a file where a folder is
expected and the other way round, a missing path, a folder without permission, a damaged dataset.
Every case must end with exit status 2 and one `error: ...` line as the last line of stderr, or with
status 0 where the value is legitimately fine; never a traceback. The options are read from the
click command objects, so a new option is fuzzed without touching this file; `EXPECT` says which
values an option legitimately accepts (the default for a value that makes no sense is "refused").

`train` runs with --dry-run: the checks of values happen before training (TrainConfig.validate).
The folder without permission is meaningful only to a process without CAP_DAC_OVERRIDE: as root,
those cases run in one child process whose capability bounding set lacks it (`setpriv`), so chmod
000 binds it like any user. Known tracebacks in modules this test does not own are marked
xfail(strict=True) with the owner's file in the reason; fixing one turns it into a failure here, so
the mark goes with the fix.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import traceback
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dcgan.cli import main as dcgan

# ---------------------------------------------------------------------------------------------
# The values each kind of option is fuzzed with: label -> value ({...} is filled in per case).

INT_VALUES = {"zero": "0", "negative": "-1", "huge": str(2**64), "not-a-number": "abc", "fraction": "1.5", "empty": ""}
FLOAT_VALUES = {"zero": "0", "negative": "-1", "nan": "nan", "inf": "inf", "-inf": "-inf", "not-a-number": "abc"}
FLOAT_VALUES["empty"] = ""
CHOICE_VALUES = {"unknown": "bogus", "empty": ""}
TEXT_VALUES = {"unknown": "bogus", "empty": "", "newline": "a\nb"}
PATH_VALUES = {"empty": "", "missing": "{missing}", "file": "{file}", "folder": "{folder}", "noperm": "{noperm}"}

# Options that name a SOURCE (a string, not a click.Path) get the path values too.
SOURCE_OPTIONS = {("prepare", "source"), ("train", "data"), ("evaluate", "data"), ("evaluate", "real")}
# Options that name a file: "noperm" is a file inside the folder without permission.
FILE_OPTIONS = {("train", "config_file"), ("generate", "grid"), ("evaluate", "json_path")}

OK, ANY, REFUSED = "ok", "any", "refused"

#: What a value does that is not refused by default: "ok" must succeed, "any" is 0 or 2 (a choice
#: that is not this test's to make, e.g. a dry run that does not look at the data). Numbers and
#: choices not listed are refused by click's own types or by TrainConfig.validate.
EXPECT: dict[tuple[str, str, str], str] = {
    # prepare: a new cache folder is created; a huge --limit means every image.
    ("prepare", "cache_dir", "missing"): OK,
    ("prepare", "cache_dir", "folder"): OK,
    ("prepare", "limit", "huge"): OK,
    # train --dry-run resolves the config only: paths and the SOURCE are opened by training.
    **{("train", p, label): ANY for p in ("out", "cache_dir") for label in PATH_VALUES},
    **{("train", "data", label): ANY for label in (*PATH_VALUES, *TEXT_VALUES)},
    ("train", "out", "file"): REFUSED,  # click.Path(file_okay=False)
    ("train", "cache_dir", "file"): REFUSED,
    ("train", "seed", "zero"): OK,
    ("train", "seed", "negative"): ANY,
    ("train", "augment", "empty"): OK,  # no augmentation
    ("train", "attributes", "empty"): OK,  # no attribute conditioning
    ("train", "attributes", "unknown"): OK,  # a well-formed name: checked against the data when training starts
    **{("train", p, "huge"): OK for p in ("epochs", "limit", "max_steps", "keep_checkpoints", "eval_every")},
    **{("train", p, "huge"): ANY for p in ("batch_size", "log_every", "plot_every", "snapshot_every")},
    **{("train", p, "huge"): ANY for p in ("ema_half_life", "eval_num")},
    **{("train", p, "zero"): OK for p in ("ema_half_life", "plot_every", "snapshot_every", "eval_every")},
    **{("train", p, "zero"): OK for p in ("gp_weight", "r1_gamma", "beta1", "beta2", "checkpoint_minutes")},
    ("train", "class_loss", "zero"): OK,  # no auxiliary class loss
    # generate: a new --out folder is created; --grid may replace a file; an empty --grid means none.
    ("generate", "out", "missing"): OK,
    ("generate", "out", "folder"): OK,
    ("generate", "grid", "missing"): ANY,
    ("generate", "grid", "file"): OK,
    ("generate", "grid", "empty"): ANY,
    ("generate", "seed", "zero"): OK,
    ("generate", "seed", "negative"): ANY,
    ("generate", "batch_size", "huge"): OK,
    # export: a new or empty --out folder is written (hf by default).
    ("export", "out", "missing"): OK,
    ("export", "out", "folder"): OK,
    # evaluate: a --json in a new folder or over an old file is written; a new cache folder is made.
    ("evaluate", "json_path", "missing"): OK,
    ("evaluate", "json_path", "file"): OK,
    ("evaluate", "cache_dir", "missing"): OK,
    ("evaluate", "cache_dir", "folder"): OK,
    ("evaluate", "seed", "zero"): OK,
    ("arithmetic", "noise", "zero"): OK,
    ("arithmetic", "seed", "zero"): OK,
    ("arithmetic", "seed", "negative"): ANY,
    **{
        (c, p, label): OK
        for c in ("project", "inpaint", "outpaint")
        for p, label in (("out", "missing"), ("out", "folder"), ("seed", "zero"), ("batch_size", "huge"))
    },
    # study --dry-run checks the flags, recipe and data and writes nothing: any --out and cache folder will do.
    **{("study", p, label): OK for p in ("out", "cache_dir") for label in ("missing", "folder")},
    **{("study", p, "huge"): OK for p in ("epochs", "steps")},
    ("project", "feature_weight", "zero"): OK,
    ("inpaint", "prior_weight", "zero"): OK,
    ("outpaint", "prior_weight", "zero"): OK,
}

#: Known tracebacks and missing checks in files this test does not own: (command, option, label) -> reason.
XFAIL: dict[tuple[str, str, str], str] = {}  # cases known to fail, each with where and why (none now)


# ---------------------------------------------------------------------------------------------
# The cases.


@dataclass(frozen=True)
class Case:
    key: tuple[str, str, str]  # (command, option, value label): what EXPECT and XFAIL are keyed by
    args: tuple[str, ...]  # with {placeholders} for the fixture paths
    expect: str

    @property
    def id(self) -> str:
        return "-".join(self.key)


def _kind(param: click.Parameter) -> str:
    if isinstance(param, click.Option) and param.is_flag:
        return "flag"
    kind = param.type
    if isinstance(kind, click.Choice):
        return "choice"
    if isinstance(kind, click.types.IntParamType):
        return "int"
    if isinstance(kind, click.types.FloatParamType):
        return "float"
    if isinstance(kind, click.Path):
        return "path"
    return "text"  # STRING and custom types (--metrics)


# A valid command line per subcommand: (positional, options); an argument being fuzzed replaces its value.
BASE = {
    "presets": ((), ()),
    "prepare": (("{images}",), ("--size", "8", "--cache-dir", "{cache}")),
    "train": ((), ("--data", "synthetic", "--out", "{out}", "--dry-run", "--no-progress")),
    "study": ((), ("--data", "synthetic", "--limits", "16", "--out", "{out}", "--dry-run", "--no-progress")),
    "generate": (("{run}",), ("--num", "2", "--out", "{out}")),
    "evaluate": (("{run}",), ("--metrics", "disc", "--num", "4", "--no-progress", "--cache-dir", "{cache}")),
    "export": (("{run}",), ("--out", "{out}")),
    "animate": (("{run}",), ("--out", "{out}.gif", "--no-progress")),
    "interpolate": (("{run}",), ("--seeds", "1,2", "--steps", "2", "--out", "{out}.png", "--no-progress")),
    "arithmetic": (("{run}",), ("--a", "1", "--b", "2", "--c", "3", "--out", "{out}.png")),
    "project": (
        ("{run}",),
        ("--image", "{images}", "--steps", "1", "--restarts", "1", "--out", "{out}", "--no-progress"),
    ),
    "inpaint": (
        ("{run}",),
        (
            "--image",
            "{images}",
            "--box",
            "0,0,4,4",
            "--steps",
            "1",
            "--candidates",
            "1",
            "--out",
            "{out}",
            "--no-progress",
        ),
    ),
    # serve --dry-run loads the run and binds the port, then exits instead of serving.
    "serve": (("{run}",), ("--port", "{port}", "--device", "cpu", "--dry-run")),
    "outpaint": (
        ("{run}",),
        (
            "--image",
            "{images}",
            "--side",
            "left",
            "--steps",
            "1",
            "--candidates",
            "1",
            "--out",
            "{out}",
            "--no-progress",
        ),
    ),
}
# evaluate's --real/--fake form (fid_fashion: a small network, fast on a CPU), for the options only it takes.
REAL_FAKE = ((), ("--real", "{images}", "--fake", "{fakes}", "--metrics", "fid_fashion", "--num", "4", "--no-progress"))
REAL_FAKE_OPTIONS = {"real", "fake", "size"}


def _values(command: str, param: click.Parameter) -> dict[str, str]:
    kind = _kind(param)
    if kind == "text" and (command, param.name) in SOURCE_OPTIONS:
        return {**TEXT_VALUES, **PATH_VALUES}
    values = {"int": INT_VALUES, "float": FLOAT_VALUES, "choice": CHOICE_VALUES, "path": PATH_VALUES}
    return values.get(kind, TEXT_VALUES if kind == "text" else {"with-value": "1"})


def _option_cases(command: str, cmd: click.Command) -> list[Case]:
    cases = []
    for param in cmd.params:
        real_fake = command == "evaluate" and param.name in REAL_FAKE_OPTIONS
        positional, options = REAL_FAKE if real_fake else BASE[command]
        for label, value in _values(command, param).items():
            if label == "noperm" and (command, param.name) in FILE_OPTIONS:
                value = "{noperm}/out.png" if param.name == "grid" else "{noperm}/config.json"
            if isinstance(param, click.Argument):
                args = (value, *positional[1:], *options)
            elif _kind(param) == "flag":
                args = (*positional, *options, f"{param.opts[0]}={value}")
            else:
                args = (*positional, *options, param.opts[0], value)
            key = (command, param.name or "", label)
            cases.append(Case(key, (command, *args), EXPECT.get(key, REFUSED)))
    positional, options = BASE[command]
    cases.append(Case((command, "unknown-option", "bogus"), (command, *positional, *options, "--bogus"), REFUSED))
    cases.append(Case((command, "help", "help"), (command, "--help"), OK))
    return cases


OPTION_CASES = [case for name, cmd in sorted(dcgan.commands.items()) for case in _option_cases(name, cmd)]
OPTION_CASES.append(Case(("presets", "extra-argument", "bogus"), ("presets", "bogus"), REFUSED))


def _data_fixtures():
    """The data layer's fixture makers (tests/data/conftest.py), loaded by path."""
    spec = importlib.util.spec_from_file_location(
        "data_fixtures", Path(__file__).resolve().parents[1] / "data" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["data_fixtures"] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


data_fixtures = _data_fixtures()


def png(seed: int, side: int = 12) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    return data_fixtures.encode(Image.fromarray(pixels), "PNG")


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _celeba(root: Path, attr: bytes | None = None, partition: bytes | None = None) -> Path:
    """A 12-image CelebA root (tiny JPEGs), its list files replaced by the given bytes."""
    images = root / "img_align_celeba"
    images.mkdir(parents=True)
    for i in range(1, 13):
        Image.new("RGB", (10, 12), (20 * i, 0, 0)).save(images / f"{i:06d}.jpg")
    data_fixtures.write_celeba_lists(root)
    for name, data in (("list_attr_celeba.txt", attr), ("list_eval_partition.txt", partition)):
        if data is not None:
            (root / name).write_bytes(data)
    return root


def _idx(root: Path, images: bytes | None = None, labels: bytes | None = None, gz: bool = True) -> Path:
    """A Fashion-MNIST folder (6 train images of 8x8), its IDX contents replaced by the given bytes."""
    root.mkdir(parents=True)
    good_images = data_fixtures.idx_bytes(np.random.default_rng(0).integers(0, 256, (6, 8, 8), dtype=np.uint8))
    good_labels = data_fixtures.idx_bytes(np.arange(6, dtype=np.uint8))
    for kind, data in (("images-idx3", images or good_images), ("labels-idx1", labels or good_labels)):
        name = f"train-{kind}-ubyte" + (".gz" if gz else "")
        (root / name).write_bytes(gzip.compress(data) if gz else data)
    return root


def _replace(path: Path, name: str, data: bytes) -> Path:
    (path / name).write_bytes(data)
    return path


def _lists() -> tuple[bytes, bytes]:
    """CelebA's two list files for the 12 images (attributes, partition)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        data_fixtures.write_celeba_lists(Path(folder))
        return (Path(folder, "list_attr_celeba.txt").read_bytes(), Path(folder, "list_eval_partition.txt").read_bytes())


ATTR, PARTITION = _lists()
GARBAGE = np.random.default_rng(1).bytes(4096)
IDX_GOOD = data_fixtures.idx_bytes(np.zeros((6, 8, 8), np.uint8))
IDX_HUGE = bytes([0, 0, 0x08, 3]) + (2**32 - 1).to_bytes(4, "big") * 3 + b"\x00" * 100
GOOD_ZIP = {f"{i}.png": png(i) for i in range(8)}


def _cut(data: bytes) -> bytes:
    """Cut in the middle of a line, as a download that stopped."""
    return data[: len(data) * 2 // 3 + 3]


def _cut_zip(tmp: Path) -> Path:
    whole = _zip(tmp / "whole.zip", GOOD_ZIP).read_bytes()
    (tmp / "cut.zip").write_bytes(whole[: len(whole) // 2])
    return tmp / "cut.zip"


def _deep_folder(tmp: Path) -> Path:
    nested = tmp.joinpath("deep", *["nested"] * 60)
    nested.mkdir(parents=True)
    (nested / "x.png").write_bytes(png(1))
    return tmp / "deep"


_FIRST_8_PARTITION_LINES = b"".join(PARTITION.splitlines(keepends=True)[:8])  # val and test lost

#: Every SOURCE kind, damaged: name -> (make it in a folder, extra `prepare` args, expectation).
SOURCE_KINDS = {
    "empty-zip": (lambda t: _zip(t / "empty.zip", {}), (), REFUSED),
    "zip-of-non-images": (lambda t: _zip(t / "bad.zip", {"a.png": b"text", "b.jpg": GARBAGE}), (), REFUSED),
    "zip-of-text-files": (lambda t: _zip(t / "text.zip", {"readme.txt": b"hello"}), (), REFUSED),
    "zip-binary-garbage": (lambda t: _replace(t, "garbage.zip", GARBAGE) / "garbage.zip", (), REFUSED),
    "zip-truncated": (_cut_zip, (), REFUSED),
    "zip-deeply-nested": (lambda t: _zip(t / "nested.zip", {"d/" * 300 + "x.png": png(2)}), (), OK),
    "binary-garbage-file": (lambda t: _replace(t, "garbage.bin", GARBAGE) / "garbage.bin", (), REFUSED),
    "folder-deeply-nested": (_deep_folder, (), OK),
    "folder-of-non-images": (
        lambda t: data_fixtures.write_tree(t / "f", {"a.jpg": b"", "b.png": GARBAGE}),
        (),
        REFUSED,
    ),
    "celeba-attr-truncated": (lambda t: _celeba(t / "c", attr=_cut(ATTR)), (), REFUSED),
    "celeba-attr-header-only": (lambda t: _celeba(t / "c", attr=ATTR.split(b"\n")[0]), (), REFUSED),
    "celeba-attr-empty": (lambda t: _celeba(t / "c", attr=b""), (), REFUSED),
    "celeba-attr-binary": (lambda t: _celeba(t / "c", attr=GARBAGE), (), REFUSED),
    "celeba-attr-huge-count": (lambda t: _celeba(t / "c", attr=b"9" * 400 + ATTR[2:]), (), REFUSED),
    "celeba-partition-truncated": (lambda t: _celeba(t / "c", partition=_cut(PARTITION)), (), REFUSED),
    "celeba-partition-empty": (lambda t: _celeba(t / "c", partition=b""), (), REFUSED),
    "celeba-partition-binary": (lambda t: _celeba(t / "c", partition=GARBAGE), (), REFUSED),
    # Lines 9-12 (val and test) lost: the train split is whole (a note names the unlisted images) ...
    "celeba-partition-short-train": (lambda t: _celeba(t / "c", partition=_FIRST_8_PARTITION_LINES), (), OK),
    # ... and the test split has none of the images.
    "celeba-partition-short-test": (
        lambda t: _celeba(t / "c", partition=_FIRST_8_PARTITION_LINES),
        ("--split", "test"),
        REFUSED,
    ),
    "idx-wrong-magic": (lambda t: _idx(t / "i", images=b"\x00\x00\x0d\x03" + IDX_GOOD[4:]), (), REFUSED),
    "idx-truncated-gz": (
        lambda t: _replace(_idx(t / "i"), "train-images-idx3-ubyte.gz", gzip.compress(IDX_GOOD)[:-20]),
        (),
        REFUSED,
    ),
    "idx-truncated-raw": (lambda t: _idx(t / "i", images=IDX_GOOD[:-10], gz=False), (), REFUSED),
    "idx-header-truncated": (lambda t: _idx(t / "i", images=IDX_GOOD[:9]), (), REFUSED),
    "idx-zero-dimensions": (lambda t: _idx(t / "i", images=b"\x00\x00\x08\x00"), (), REFUSED),
    "idx-huge-dimensions": (lambda t: _idx(t / "i", images=IDX_HUGE), (), REFUSED),
    "idx-no-images": (
        lambda t: _idx(t / "i", images=data_fixtures.idx_bytes(np.zeros((0, 8, 8), np.uint8))),
        (),
        REFUSED,
    ),
    "idx-empty-images": (
        lambda t: _idx(t / "i", images=data_fixtures.idx_bytes(np.zeros((6, 0, 0), np.uint8))),
        (),
        REFUSED,
    ),
    "idx-labels-mismatch": (
        lambda t: _idx(t / "i", labels=data_fixtures.idx_bytes(np.zeros(5, np.uint8))),
        (),
        REFUSED,
    ),
    "idx-not-gzip": (lambda t: _replace(_idx(t / "i"), "train-labels-idx1-ubyte.gz", b"not gzip at all"), (), REFUSED),
}

# --config files: name -> (file name, bytes, expectation).
DEEP = 100_000
CONFIG_KINDS: dict[str, tuple[str, bytes, str]] = {
    "json-list": ("list.json", b"[1, 2]", REFUSED),
    "json-string": ("string.json", b'"epochs"', REFUSED),
    "json-null": ("null.json", b"null", REFUSED),
    "json-empty": ("empty.json", b"", REFUSED),
    "json-binary": ("binary.json", bytes(range(256)) * 4, REFUSED),
    "toml-binary": ("binary.toml", bytes(range(256)) * 4, REFUSED),
    "json-deeply-nested": ("deep.json", b'{"extra": ' + b"[" * DEEP + b"]" * DEEP + b"}", REFUSED),
    "toml-deeply-nested": ("deep.toml", b"extra = " + b"[" * DEEP + b"]" * DEEP + b"\n", REFUSED),
    "json-huge-float": ("hugefloat.json", b'{"size": 1e999}', REFUSED),
    "json-huge-int": ("hugeint.json", b'{"epochs": 1' + b"0" * 5000 + b"}", REFUSED),
    "toml-huge-int": ("hugeint.toml", b"epochs = 1" + b"0" * 5000 + b"\n", REFUSED),
    "json-infinite-rate": ("infrate.json", b'{"lr_g": 1e999}', REFUSED),
    "json-wrong-type": ("wrongtype.json", b'{"epochs": "5"}', REFUSED),
    "json-bool-for-int": ("bool.json", b'{"epochs": true}', REFUSED),
    "json-unknown-key": ("unknown.json", b'{"epoch": 5}', REFUSED),
    "json-extra-not-a-table": ("extra.json", b'{"extra": []}', REFUSED),
    "json-nul-in-data": ("nul.json", b'{"data": "a\\u0000b"}', OK),  # a dry run does not open the data
    "toml-preset-list": ("preset.toml", b'preset = ["fashion-dcgan"]\n', REFUSED),
    "toml-unknown-preset": ("unknownpreset.toml", b'preset = "bogus"\n', REFUSED),
    "toml-empty": ("empty.toml", b"", OK),
    "yaml": ("config.yaml", b"epochs: 5\n", REFUSED),
}


# ---------------------------------------------------------------------------------------------
# Running a case.


@dataclass
class Outcome:
    code: int
    stderr: str
    error: str | None  # the last line of a traceback, when an exception escaped


def invoke(args: list[str]) -> Outcome:
    """The real command group in-process; an exception that escapes it is a traceback a user would see."""
    result = CliRunner().invoke(dcgan, args, catch_exceptions=True)
    error = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        error = describe(result.exception)
    return Outcome(result.exit_code, result.stderr, error)


def describe(exc: BaseException) -> str:
    """The traceback's last line (first line of the message) and the innermost frame in dcgan's code."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f"{os.sep}dcgan{os.sep}" in f.filename]
    where = f" (at {frames[-1].filename.rsplit(os.sep + 'src' + os.sep, 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}{where}"


def check(outcome: Outcome, expect: str) -> None:
    assert outcome.error is None, f"traceback: {outcome.error}"
    assert "Traceback" not in outcome.stderr, outcome.stderr
    assert outcome.code in (0, 2), (outcome.code, outcome.stderr)
    if outcome.code == 2:
        lines = [line for line in outcome.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error: ")]
        assert len(errors) == 1 and lines[-1] == errors[0], outcome.stderr  # notes may come before it
    if expect == REFUSED:
        assert outcome.code == 2, f"accepted: {outcome.stderr[-500:]}"
    elif expect == OK:
        assert outcome.code == 0, outcome.stderr


def fill(args: tuple[str, ...], paths: dict[str, str]) -> list[str]:
    return [arg.format(**paths) if "{" in arg else arg for arg in args]


def scratch_paths(folder: Path) -> dict[str, str]:
    """The paths a case may write to or find changed: a fresh set per case."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "garbage.bin").write_bytes(np.random.default_rng(0).bytes(1000))
    (folder / "empty").mkdir(exist_ok=True)
    return {
        "out": str(folder / "out"),
        "missing": str(folder / "missing" / "nothing"),
        "file": str(folder / "garbage.bin"),
        "folder": str(folder / "empty"),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> Iterator[dict[str, str]]:
    """What every case reads and none changes: good images, a trained run, a folder without permission."""
    tmp = tmp_path_factory.mktemp("fuzz")
    images = data_fixtures.write_tree(tmp / "images", {f"{i}.png": png(i) for i in range(4)})
    fakes = data_fixtures.write_tree(tmp / "fakes", {f"{i}.png": png(10 + i) for i in range(4)})
    (tmp / "cwd").mkdir()
    noperm = tmp / "noperm"
    noperm.mkdir()
    (noperm / "0.png").write_bytes(png(0))
    noperm.chmod(0)
    yield {
        "images": str(images),
        "fakes": str(fakes),
        "run": str(tiny_run),
        "cache": str(tmp / "cache"),
        "noperm": str(noperm),
        "tmp": str(tmp),
        "port": str(_free_port()),  # serve --dry-run binds it
    }
    noperm.chmod(0o755)


@pytest.fixture
def paths(shared: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every placeholder of a case. The case runs in a scratch folder: an empty path must never write
    into the repository."""
    monkeypatch.chdir(Path(shared["tmp"]) / "cwd")
    return {**shared, **scratch_paths(tmp_path)}


def _param(case: Case) -> object:
    reason = XFAIL.get(case.key)
    return pytest.param(case, id=case.id, marks=[pytest.mark.xfail(strict=True, reason=reason)] if reason else [])


# The smallest real training: what `train` runs when --dry-run accepted a value that should be refused.
TINY_TRAINING = (
    *("--data", "synthetic", "--preset", "fashion-mlp", "--mlp-hidden", "16", "--limit", "16", "--batch-size", "16"),
    *("--epochs", "1", "--max-steps", "1", "--sample-grid", "4", "--log-every", "1", "--no-progress"),
)


@pytest.mark.parametrize("case", [_param(c) for c in OPTION_CASES if c.key[2] != "noperm"])
def test_every_option_value(case: Case, paths: dict[str, str]) -> None:
    args = fill(case.args, paths)
    outcome = invoke(args)
    if case.key[0] == "train" and "--dry-run" in args and outcome.code == 0 and case.expect == REFUSED:
        # Some values are checked where they are used (the device, the split, the augmentation policy),
        # not by the dry run: the real command must then refuse them before training, in one line.
        fuzzed = args[args.index("--no-progress") + 1 :]
        outcome = invoke(["train", *TINY_TRAINING, "--out", str(Path(paths["out"]) / "real"), *fuzzed])
    check(outcome, case.expect)


# ---------------------------------------------------------------------------------------------
# A folder without permission: one child process for which chmod 000 binds.

NOPERM_CASES = [c for c in OPTION_CASES if c.key[2] == "noperm"]

CHILD = """
import json, sys, traceback
from click.testing import CliRunner
from dcgan.cli import main
results = {}
for case_id, args in json.loads(sys.stdin.read()):
    r = CliRunner().invoke(main, args, catch_exceptions=True)
    error = None
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        error = f"{type(r.exception).__name__}: {r.exception}"
    results[case_id] = [r.exit_code, r.stderr, error]
print(json.dumps(results))
"""


def _without_dac_override() -> list[str] | None:
    """The command prefix under which chmod 000 binds: none for a normal user; setpriv for root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"] if setpriv else None


@pytest.fixture(scope="module")
def noperm_outcomes(shared: dict[str, str]) -> dict[str, Outcome]:
    prefix = _without_dac_override()
    if prefix is None:
        pytest.skip("running as root without setpriv: chmod 000 does not bind")
    probe = [*prefix, sys.executable, "-c", f"import os; os.listdir({shared['noperm']!r})"]
    if subprocess.run(probe, capture_output=True).returncode == 0:
        pytest.skip("chmod 000 does not bind even without CAP_DAC_OVERRIDE here")
    all_paths = {**shared, **scratch_paths(Path(shared["tmp"]) / "child")}
    cases = [(c.id, fill(c.args, all_paths)) for c in NOPERM_CASES]
    env = dict(os.environ, DCGAN_CACHE=str(Path(shared["tmp"]) / "child-cache"))
    proc = subprocess.run(
        [*prefix, sys.executable, "-c", CHILD],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=Path(shared["tmp"]) / "cwd",
    )
    assert proc.returncode == 0, proc.stderr
    return {case_id: Outcome(*values) for case_id, values in json.loads(proc.stdout).items()}


@pytest.mark.parametrize("case", [_param(c) for c in NOPERM_CASES])
def test_a_folder_without_permission(case: Case, noperm_outcomes: dict[str, Outcome]) -> None:
    check(noperm_outcomes[case.id], case.expect)


# ---------------------------------------------------------------------------------------------
# Every SOURCE kind, damaged, through `dcgan prepare`; every --config kind through `dcgan train`.


def _kind_param(command: str, what: str, kind: str) -> object:
    reason = XFAIL.get((command, what, kind))
    return pytest.param(kind, id=kind, marks=[pytest.mark.xfail(strict=True, reason=reason)] if reason else [])


@pytest.mark.parametrize("kind", [_kind_param("prepare", "source-kind", k) for k in SOURCE_KINDS])
def test_every_source_kind(kind: str, tmp_path: Path, paths: dict[str, str]) -> None:
    make, extra, expect = SOURCE_KINDS[kind]
    source = make(tmp_path)
    check(invoke(["prepare", str(source), "--size", "8", "--cache-dir", paths["cache"], *extra]), expect)


@pytest.mark.parametrize("kind", [_kind_param("train", "config-kind", k) for k in CONFIG_KINDS])
def test_every_config_kind(kind: str, tmp_path: Path, paths: dict[str, str]) -> None:
    name, data, expect = CONFIG_KINDS[kind]
    (tmp_path / name).write_bytes(data)
    check(invoke(["train", "--config", str(tmp_path / name), "--out", paths["out"], "--dry-run"]), expect)
