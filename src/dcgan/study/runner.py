"""Run a data-size study: train and evaluate every run in order, resumably, and write its tables and figures.

Each run is an ordinary run directory under `OUT/runs/` (so `dcgan generate` and `dcgan evaluate` work
on it); `OUT/study.json` records the settings and, per run, its state: "trained" once its budget is
spent, "done" with its metrics once evaluated. Rerunning the same command skips the finished runs,
evaluates the trained ones, resumes an interrupted one from its newest checkpoint, and rebuilds the
tables; another study in the same folder is refused. Every file is written atomically.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DcganError
from ..fsutil import atomic_write
from .plan import (
    AUGMENT_MODES,
    FORMAT,
    SECONDS_EPOCH_CAP,
    Run,
    Settings,
    check_limits,
    check_same_study,
    describe,
    metric_values,
    summarise,
)

STUDY_JSON = "study.json"
#: What a study folder may hold (and temp files of interrupted writes).
STUDY_ENTRIES = frozenset({STUDY_JSON, "study.md", "study.png", "grids.png", "runs", ".lock"})


def mode_problem(mode: str) -> str | None:
    """Why this version cannot train with --augment `mode` (None: it can): the config's own check of the value."""
    from ..config import TrainConfig

    try:
        TrainConfig(augment=AUGMENT_MODES[mode]).validate()
    except DcganError as e:
        return str(e)
    return None


def load_study(out: Path) -> dict[str, Any] | None:
    """The study.json in `out` (None when there is none); refuses a folder that holds something else."""
    if out.exists() and not out.is_dir():
        raise DcganError(f"--out {out}: this is a file; give a folder for the study (a new one)")
    path = out / STUDY_JSON
    if not path.exists():
        names = sorted(e.name for e in out.iterdir() if ".tmp-" not in e.name) if out.is_dir() else []
        names = [n for n in names if n != ".lock"]
        if names:
            shown = ", ".join(repr(n) for n in names[:3]) + (", ..." if len(names) > 3 else "")
            raise DcganError(
                f"--out {out}: this folder holds other files ({shown}); a study is written into a new or empty "
                "folder (or continued in its own): choose another --out"
            )
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DcganError(f"--out {out}: cannot read its {STUDY_JSON} ({e}); choose another --out") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT or not isinstance(saved.get("settings"), dict):
        raise DcganError(f"--out {out}: its {STUDY_JSON} is not a dcgan study; choose another --out")
    return saved


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """One `dcgan study` at a time per folder (the kernel drops the lock when the process ends)."""
    import fcntl

    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise DcganError(f"--out {out}: cannot write there ({e.strerror or e}); choose a writable folder") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DcganError(
                f"--out {out}: another `dcgan study` is running in this folder; wait for it or choose another --out"
            ) from None
        yield
    finally:
        os.close(fd)


class Study:
    """A study's folder and state: settings, the data's size, one record per run started."""

    def __init__(self, settings: Settings, out: str | Path, device: str, cache_dir: str | None, progress: bool):
        self.settings, self.out = settings, Path(out)
        self.device, self.cache_dir, self.progress = device, cache_dir, progress
        self.records: dict[str, dict[str, Any]] = {}
        self.data_size = 0
        self.recipe: dict[str, Any] = {}
        self.grids: dict[str, Any] | None = None
        self.plot_panels: list[str] = []

    # Setup: the recipe and the data, checked before any training.
    def config_for(self, run: Run, **extra: Any) -> Any:
        from ..config import resolve_config

        s = self.settings
        return resolve_config(s.preset, {**s.sets, **run.overrides(s.data), "device": self.device, **extra})

    def check(self) -> None:
        from ..data import open_store, source_channels
        from ..device import resolve_device

        resolve_device(self.device)  # an unknown or missing device is refused before anything else
        for mode in self.settings.augments:
            problem = mode_problem(mode)
            if problem is not None:
                raise ConfigError(f"--augment {mode}: this version cannot train with it ({problem})")
        config = self.config_for(self.settings.runs()[0])  # every run's recipe resolves alike but for its fields
        for run in self.settings.runs():
            self.config_for(run)
        self.recipe = {
            k: v for k, v in config.to_dict().items() if k not in ("limit", "seed", "augment", "device", "epochs")
        }
        channels = config.channels or source_channels(config.data)
        store = open_store(config.data, config.size, channels, config.split, None, self.cache_dir, self.progress)
        self.data_size = len(store)
        check_limits(self.settings.limits, self.data_size, f"--data {self.settings.data} ({config.split} split)")

    def images(self, run: Run) -> int:
        return self.data_size if run.limit == "all" else int(run.limit)

    # The state file.
    def state(self) -> dict[str, Any]:
        ordered = [self.records[r.name] for r in self.settings.runs() if r.name in self.records]
        state = {
            "format": FORMAT,
            "command": self.settings.command(str(self.out)),
            "settings": self.settings.identity(),
            "recipe": self.recipe,
            "data_size": self.data_size,
            "runs": ordered,
            "summary": summarise(ordered, self.settings),
        }
        if self.grids is not None:
            state["grids"] = self.grids
        if self.plot_panels:
            state["plot"] = {"panels": self.plot_panels}
        return state

    def save(self, figures: bool = False) -> None:
        """study.json and study.md; with `figures`, study.png and grids.png first."""
        from .report import markdown, plot, write_grids

        state = self.state()
        if figures:
            self.plot_panels = plot(state, self.out / "study.png")
            self.grids = write_grids(state, self.out, self.out / "grids.png")
            state = self.state()
        atomic_write(self.out / STUDY_JSON, json.dumps(state, indent=2) + "\n")
        atomic_write(self.out / "study.md", markdown(state))

    def detached(self) -> Study:
        """A copy for a worker process (`--jobs`): the settings and the data's size, no records."""
        copy = Study(self.settings, self.out, self.device, self.cache_dir, progress=False)
        copy.data_size = self.data_size
        return copy

    def trained(self, run: Run) -> dict[str, Any]:
        """What the run's newest checkpoint says: step, images seen, training seconds, images trained on."""
        return last_checkpoint(self.out / "runs" / run.name) or {}

    # One run.
    def train(self, run: Run) -> None:
        """Train `run` until its budget is spent (resuming its folder when it has one)."""
        from ..training.rundir import RunDir
        from ..training.stop import signals_taken
        from ..training.trainer import train

        budget, folder = self.settings.budget, self.out / "runs" / run.name
        base = self.config_for(run)
        per_epoch = math.ceil(self.images(run) / base.batch_size)
        epochs = budget.epochs or (math.ceil(budget.steps / per_epoch) if budget.steps else None)
        epochs = epochs or (SECONDS_EPOCH_CAP if budget.seconds else base.epochs)
        target = min(per_epoch * epochs, budget.steps or math.inf)
        # A time budget is training time: no evaluations during training (the study evaluates every run after
        # it) unless --set eval_every=N asks for them.
        quiet = {"eval_every": 0} if budget.seconds and "eval_every" not in self.settings.sets else {}
        config = self.config_for(run, epochs=epochs, **quiet)
        resume = RunDir(folder).is_run()
        before = last_checkpoint(folder)
        if before and before["step"] >= target:
            return  # trained before a kill took the record
        trained = before["train_seconds"] if before else 0.0
        if budget.seconds and trained >= budget.seconds:
            return  # its time was spent before a kill took the record
        signals = signals_taken()
        train(
            config,
            folder,
            resume=resume,
            progress=self.progress,
            max_steps=budget.steps,
            cache_dir=self.cache_dir,
            max_seconds=budget.seconds,  # training time, over resumes (the trainer's --max-minutes)
        )
        after = last_checkpoint(folder)
        spent = bool(budget.seconds) and after is not None and after["train_seconds"] >= budget.seconds
        if signals_taken() != signals or after is None or (after["step"] < target and not spent):
            raise KeyboardInterrupt  # stopped by Ctrl+C / SIGTERM (even as the run ended): the study stops too

    def evaluate(self, run: Run) -> dict[str, Any]:
        from ..metrics.evaluate import evaluate_run

        s = self.settings
        folder = self.out / "runs" / run.name
        return evaluate_run(
            folder,
            metrics=s.metrics,
            num=s.num,
            split="test",
            device=self.device,
            seed=0,
            progress=self.progress,
            cache_dir=self.cache_dir,
        )

    def begin(self, run: Run) -> bool:
        """Record `run` as training, unless it was trained before a kill took its evaluation (False: keep that)."""
        if self.records.get(run.name, {}).get("status") == "trained":
            return False
        record = {"name": run.name, "limit": run.limit, "augment": run.augment, "seed": run.seed}
        self.records[run.name] = record | {
            "status": "training",
            "images": self.images(run),
            "folder": f"runs/{run.name}",
        }
        self.save()
        return True

    def finish(self, run: Run, trained: dict[str, Any], result: dict[str, Any], started: float) -> dict[str, Any]:
        """Record `run` as done: `trained` (its checkpoint's figures), `result`'s metrics, the wall time."""
        record = self.records[run.name]
        record.update(trained)
        record.update(
            status="done",
            metrics=metric_values(result),
            evaluation={k: result.get(k) for k in ("num_fake", "num_real", "split", "feature_network", "seconds")},
            wall_seconds=round(time.perf_counter() - started, 3),
        )
        self.save()
        return record

    def to_do(self, say: Callable[[str], None]) -> list[tuple[str, Run]]:
        """The runs not done yet, each with its "study [i/n] name" head; the done ones are said as skipped."""
        runs, todo = self.settings.runs(), []
        for i, run in enumerate(runs, 1):
            head, record = f"study [{i}/{len(runs)}] {run.name}", self.records.get(run.name)
            if record is not None and record.get("status") == "done":
                say(f"{head}: done before, skipped ({describe(record)})")
            else:
                todo.append((head, run))
        return todo

    def run_all(self, say: Callable[[str], None]) -> None:
        for head, run in self.to_do(say):
            started = time.perf_counter()
            if self.begin(run):
                self.train(run)
            self.records[run.name].update(self.trained(run), status="trained")
            self.save()
            record = self.finish(run, {}, self.evaluate(run), started)
            say(f"{head}: {describe(record)}")


def last_checkpoint(folder: Path) -> dict[str, Any] | None:
    """Step, images seen, training seconds and images of a run's newest readable checkpoint (None: none)."""
    from ..checkpoint import list_checkpoints, read_checkpoint
    from ..errors import CheckpointError

    for path in reversed(list_checkpoints(folder)):
        try:
            ck = read_checkpoint(path, prefixes=())
        except CheckpointError:
            continue
        extra = ck.meta.get("extra", {})
        return {
            "step": ck.step,
            "images_seen": int(ck.meta.get("images_seen", 0)),
            "train_seconds": round(float(extra.get("train_seconds") or 0.0), 3),
            "images_trained_on": extra.get("num_images"),
        }
    return None


def run_study(
    settings: Settings,
    out: str | Path,
    device: str = "auto",
    cache_dir: str | None = None,
    progress: bool = True,
    say: Callable[[str], None] | None = None,
    dry_run: bool = False,
    jobs: int = 1,
) -> dict[str, Any]:
    """Run (or continue) the study in `out` and return its state (what study.json holds). dry_run: check
    everything (flags, recipe, data, limits, a study already in `out`), say the runs, write nothing.
    jobs: runs trained at once, each in its own process (`dcgan.study.parallel`)."""
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    out = Path(out)
    saved = load_study(out)
    if saved is not None:
        check_same_study(saved["settings"], settings, str(out))
    study = Study(settings, out, device, cache_dir, progress)
    study.check()  # before the folder is created: a refused study leaves nothing behind
    if dry_run:
        runs = settings.runs()
        at_once = f", {min(jobs, len(runs))} at a time," if jobs > 1 else ""
        say(
            f"dry run: {len(runs)} runs{at_once} on {study.data_size} images of {settings.data}; nothing written to {out}"
        )
        for run in runs:
            say(f"  {run.name}: {study.images(run)} images")
        return study.state()
    with locked(out):
        saved = load_study(out)  # again, under the lock: another study may have finished runs meanwhile
        if saved is not None:
            check_same_study(saved["settings"], settings, str(out))
            study.records = {r["name"]: r for r in saved.get("runs", []) if isinstance(r, dict) and "name" in r}
        study.save()
        try:
            if jobs > 1:
                from .parallel import run_side_by_side

                run_side_by_side(study, study.detached(), say, jobs)
            else:
                study.run_all(say)
        except KeyboardInterrupt:
            say(f"study interrupted: what is finished is kept; rerun the same command to continue ({out})")
            with contextlib.suppress(Exception):
                study.save(figures=True)
            raise
        study.save(figures=True)
    say(f"study finished: {out / 'study.md'}, {out / 'study.png'}, {out / 'grids.png'}")
    return study.state()
