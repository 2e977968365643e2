"""The training loop: one function, split by sentence comments, as S1's loop reads.

Batches are drawn from the packed uint8 store held in memory (on a GPU: in device memory),
scaled to [-1, 1] in one place, and the step never waits for the host: the statistics are summed
on the device and read once per `log_every` steps, and the divergence check rides on that read.
The D and G updates are `gan_step`, on one screen below.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..augment import DEFAULT_POLICY, AdaptiveAugment, Augment, make_augment
from ..checkpoint import Checkpoint, checkpoint_name, read_checkpoint
from ..config import RESUME_MAY_CHANGE, UNBOUNDED_EPOCHS, TrainConfig, resolve_data, resume_config, with_resume_record
from ..data.fashion_mnist import KIND as FASHION_KIND
from ..device import autocast, device_name, precision_summary
from ..errors import DataError, DivergenceError
from ..labels import attach_labels, check_same_labels
from ..losses import GANLoss, classification_loss, get_loss, r1_penalty
from ..metrics.registry import selection_metric
from ..sample import sample_latents

if TYPE_CHECKING:  # pragma: no cover
    from ..data.batches import DeviceBatches

from . import distributed
from .distributed import frozen
from .loggers import open_mirror
from .meter import IntervalMeter, all_finite, weights_finite
from .rundir import BEST_CHECKPOINT, MetricsLog, RunDir
from .snapshots import Snapshots
from .state import TrainState
from .stop import Interrupted, StopRequest, TimeBudget

SMALL_DATA = 5000  # below this many images, training recommends DiffAugment
MAX_ROLLBACKS = 3


def train(
    config: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    max_steps: int | None = None,
    cache_dir: str | Path | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_seconds: float | None = None,
) -> Path:
    """Train per `config` into the run directory `out_dir` and return its path.

    resume: continue the run in `out_dir` from its newest checkpoint (its recipe is kept; only the
    RESUME_MAY_CHANGE settings are taken from `config`); a run without a checkpoint yet starts again
    from step 0 with its saved config. max_steps: stop after this many optimisation steps in total
    (None: all epochs). cache_dir: where packed stores live (None: the user cache). should_stop:
    called once per step; True stops training like Ctrl+C (checkpoint, report, return). max_seconds: the
    time budget (`--max-minutes`): the run ends once it has trained this long in total, over its resumes
    (training time: metrics.jsonl's `elapsed`, without packing, evaluations or snapshots); resuming it with
    a larger budget goes on.
    One process at a time writes a run directory: a second one is refused while the first runs.
    Under torchrun, every process calls this; rank 0 writes the run (training/distributed.py).
    """
    run = RunDir(out_dir)
    with distributed.session(config.device) as dist, dist.main_holds(run):  # rank 0 checks --out, holds its lock
        limits = (max_steps, max_seconds)
        return run_training(run, config, resume, progress and dist.is_main, limits, cache_dir, should_stop)


def run_training(
    run: RunDir,
    config: TrainConfig,
    resume: bool,
    progress: bool,
    limits: tuple[int | None, float | None],
    cache_dir: str | Path | None,
    should_stop: Callable[[], bool] | None,
) -> Path:
    """`train` with the run directory locked: the setup, the loop, the finish. limits: (max_steps, max_seconds)."""
    from ..data import open_store, source_channels
    from ..data.batches import DeviceBatches

    # Sanity checks before anything heavy (rank 0's under torchrun): new, resumed or refused, by what the folder holds.
    dist = distributed.current()
    config, resume_from = dist.open_run(functools.partial(check_run, run, config, resume))
    device = dist.resolve_device(config.device)
    dist.use_cores(device)

    # Load the data: decoded once into the packed store, then held in memory.
    with dist.local_main_first():  # under torchrun, one process per machine packs the store first
        channels = config.channels or source_channels(config.data)
        store = open_store(config.data, config.size, channels, config.split, config.limit, cache_dir, progress)
        data = DeviceBatches(store, device, config.batch_size, config.seed, dist.rank, dist.world)
    condition = attach_labels(config, data)  # a conditional run's labels (None: unconditional)
    if resume_from is not None:
        dist.agree(functools.partial(check_same_images, resume_from, data, config.data))
    total_steps = min(data.steps_per_epoch * config.epochs, limits[0] or math.inf)
    snapshot_epochs = config.snapshot_epochs(data.num_images)
    warn_about_recipe(config, data.num_images, fresh=resume_from is None)

    # Build the networks, optimisers and random streams; the loss, augmentation and precision.
    state = TrainState(config, channels, device, condition)
    loss = get_loss(config.loss)
    augment = state.ada if state.ada is not None else make_augment(config.augment)  # --augment ada: adaptive
    dtype = state.dtype
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    print(
        f"training on {device_name(device)}: {precision_summary(dtype, state.memory_format, device)}", file=sys.stderr
    )
    log = MetricsLog(run.metrics_jsonl, open_mirror(config.log, run.path))  # --log tensorboard: a mirror
    snapshots = Snapshots(run, state, data)
    eval_steps, eval_at_grids, eval_metrics = config.evaluation_plan(store.manifest.get("kind") == FASHION_KIND)
    if resume_from is not None:
        state.restore(resume_from)
        log.rewind(state.counters.step)  # drop lines logged after the checkpoint
        c = state.counters
        print(f"resuming {run} from step {c.step} (epoch {c.epoch + 1}, {c.images_seen} images seen)", file=sys.stderr)
        run.write_config(config)  # with this resume's changes recorded
    else:
        run.clear_outputs()
        run.write_config(config)

    dist.wrap(state)  # under torchrun: DistributedDataParallel for the training step
    meter, c = IntervalMeter(device), state.counters
    budget = TimeBudget(limits[1], lambda: c.train_seconds + meter.running())  # --max-minutes
    if budget.spent():  # a resumed run whose time is spent: nothing to train
        total_steps = c.step
    budgeted = total_steps >= data.steps_per_epoch * UNBOUNDED_EPOCHS  # only the time budget ends the run
    bar = progress_bar(None if budgeted else total_steps, c.step) if progress else None
    evaluation = (state, snapshots, log, eval_metrics, progress, bar)  # evaluate_and_keep_best's arguments
    interrupted = False
    saved_at, checkpoint_due = time.monotonic(), False  # the last checkpoint, for --checkpoint-minutes
    with StopRequest(should_stop, budget) as stop:
        try:
            while c.step < total_steps and c.epoch < config.epochs:
                # Fetch training data: this epoch's permutation, sliced on the device.
                real = data.batch(c.epoch, c.batch_index, state.memory_format)
                n = data.step_images(c.batch_index)  # over all processes: `real` holds this one's share
                z = sample_latents(config, n, state.z_rng, device)
                y = data.batch_labels(c.epoch, c.batch_index, state.z_rng)  # (real, fake) labels, or None
                z = dist.shard(z)  # under torchrun: this process's rows, as of the batch (and of y, in batch_labels)

                # Update D, then G; then G_ema. Statistics stay on the device.
                stats = gan_step(state, real, z, loss, augment, dtype, scaler, y)
                if state.ema is not None:
                    state.ema.update(state.generator, n)
                meter.add(stats, n)
                if state.ada is not None:  # every few steps, p follows D's signs on real images (on the device)
                    state.ada.step_done(n, dist.all_sum)
                c.step += 1
                c.batch_index += 1
                c.images_seen += n
                end_of_epoch = c.batch_index >= data.steps_per_epoch
                stopping = dist.stop_requested(stop)  # under torchrun: decided together at the next log

                # Log: one host read per interval; the divergence check rides on it.
                if c.step % config.log_every == 0 or end_of_epoch or c.step >= total_steps or stopping:
                    ok, stopping = dist.end_interval(state, meter, weights_finite(state.networks()), stop, stopping)
                    means, images, seconds = meter.read({"augment_p": state.ada.p} if state.ada is not None else None)
                    c.train_seconds += seconds
                    if not (all_finite(means) and bool(ok)):
                        roll_back(state, run, log)
                        data.forget_order()
                        if bar is not None:
                            bar.n = c.step
                        meter.restart_clock()
                        continue
                    rate = images / seconds if seconds > 0 else 0.0
                    record = {"step": c.step, "epoch": c.epoch + 1, **means, "images_per_second": rate}
                    log.append(dict(record, elapsed=c.train_seconds, images_seen=c.images_seen))
                    if bar is not None:
                        bar.set_postfix_str(
                            f"Loss_D {means['loss_d']:.3f} Loss_G {means['loss_g']:.3f} D(x) {means['d_real_mean']:.3f} "
                            f"D(G(z)) {means['d_fake_mean_before']:.3f}/{means['d_fake_mean_after']:.3f} {rate:.0f} img/s",
                            refresh=False,
                        )
                    if config.plot_every and c.step % config.plot_every == 0:
                        snapshots.plot(log)
                    if eval_steps and c.step % eval_steps == 0:  # on rank 0; the others wait
                        stopping = dist.from_main(functools.partial(evaluate_or_stop, stop, *evaluation)) or stopping
                    minutes = (time.monotonic() - saved_at) / 60
                    checkpoint_due = bool(config.checkpoint_minutes) and minutes >= config.checkpoint_minutes
                    meter.restart_clock()
                if bar is not None:
                    bar.update(1)
                if end_of_epoch:
                    # End of epoch: the fixed-noise grid, plots and a checkpoint every `snapshot_epochs`
                    # epochs, and always after the last one (evaluated first when that is the plan).
                    snapshot = (c.epoch + 1) % snapshot_epochs == 0 or c.epoch + 1 >= config.epochs
                    if snapshot and eval_at_grids and not stopping:
                        stopping = dist.from_main(functools.partial(evaluate_or_stop, stop, *evaluation)) or stopping
                    c.epoch, c.batch_index = c.epoch + 1, 0
                    if snapshot:
                        snapshots.epoch_end(log)
                        saved_at, checkpoint_due = time.monotonic(), False
                    meter.restart_clock()
                if checkpoint_due:
                    # A time-based checkpoint, mid-epoch too, taken after the epoch's bookkeeping and on a
                    # logging boundary, so that --resume continues exactly where it was taken.
                    state.checkpoint(run.path, snapshots.data_identity())
                    saved_at, checkpoint_due = time.monotonic(), False
                    meter.restart_clock()
                if stopping:
                    interrupted = not budget.was_spent  # the time budget ends the run as its last step would
                    break
        finally:
            if bar is not None:
                bar.close()

    # Finish: a final checkpoint (unless the epoch end just wrote it), plots, real vs fake, report.
    last = run.checkpoints()
    if not last or last[-1].name != checkpoint_name(c.step):
        state.checkpoint(run.path, snapshots.data_identity(), final=not interrupted)
    snapshots.finish(log, selection_metric(eval_metrics))
    say_how_it_ended(run, c.step, c.train_seconds, interrupted, budget)
    return run.path


def say_how_it_ended(run: RunDir, step: int, seconds: float, interrupted: bool, budget: TimeBudget) -> None:
    """On stderr, when the run ended before its epochs: stopped (how to resume) or its time budget spent."""
    if interrupted:
        print(f"stopped at step {step}; resume with: dcgan train --out {run} --resume", file=sys.stderr)
    elif budget.was_spent:
        print(
            f"--max-minutes: time budget spent ({seconds / 60:.2f} minutes of training, step {step}); "
            f"to train on: dcgan train --out {run} --resume --max-minutes M (a larger M)",
            file=sys.stderr,
        )


def progress_bar(total_steps: int | None, step: int) -> Any:
    """The step progress bar on stderr (tqdm), starting at `step` of `total_steps` (None: a time budget ends
    the run, so the bar counts steps and their rate without a total)."""
    from tqdm import tqdm

    return tqdm(
        total=total_steps,
        initial=step if total_steps is None else min(step, total_steps),
        unit="step",
        dynamic_ncols=True,
        file=sys.stderr,
        desc="train",
    )


def check_run(run: RunDir, config: TrainConfig, resume: bool) -> tuple[TrainConfig, Checkpoint | None]:
    """The checks of the run folder before anything heavy, and the config it trains with (and its checkpoint)."""
    run.remove_stale_temp_files()
    resume_from = run.prepare(resume)
    config = settle_config(run, config, resume, resume_from)
    run.check_writable()
    return config, resume_from


def settle_config(run: RunDir, config: TrainConfig, resume: bool, resume_from: Checkpoint | None) -> TrainConfig:
    """The config a run trains with: a resume keeps the saved recipe (the checkpoint's, or config.json's
    when there is no checkpoint yet) and records its changes; a data path is made absolute."""
    saved = resume_from.config if resume_from is not None else (run.read_config() if resume else None)
    if saved is not None:
        config = resume_config(saved, {k: getattr(config, k) for k in RESUME_MAY_CHANGE})
    config = dataclasses.replace(config, data=resolve_data(config.data)).validate()
    if resume_from is not None:
        config = with_resume_record(resume_from.config, config, resume_from.step)
    run.check_outside(config.data)
    return config


def warn_about_recipe(config: TrainConfig, num_images: int, fresh: bool) -> None:
    """Warnings about choices that usually go wrong (said once, when a run starts)."""
    if num_images < SMALL_DATA and not config.augment and fresh:
        print(
            f"warning: only {num_images} training images: D will overfit them in a long run; add --augment ada "
            "(adaptive augmentation: DiffAugment's transforms only as often as D's overfitting calls for), "
            f"--augment {DEFAULT_POLICY} (DiffAugment) or use --preset small-faces; at 12,000 steps ADA gave a "
            "17% lower FID on 100 Fashion-MNIST images and no gain yet on 500 or 1,000 (benchmarks/RESULTS.md, small data)",
            file=sys.stderr,
        )
    if config.loss == "wgan-gp" and config.d_batchnorm and config.arch != "mlp":
        print(
            "warning: wgan-gp's gradient penalty is per sample; BatchNorm in D breaks it (add --no-d-batchnorm)",
            file=sys.stderr,
        )


def gan_step(
    state: TrainState,
    real: torch.Tensor,
    z: torch.Tensor,
    loss: GANLoss,
    augment: Augment,
    dtype: torch.dtype | None,
    scaler: torch.amp.GradScaler,
    y: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """One optimisation step of D and then G on `real` (floats in [-1, 1]) and latents `z`; y: for a
    conditional run, (labels of `real`, labels for G's fakes), None otherwise (penalties use real labels).
    With --class-loss W, D also learns to classify the real images and G to have its fakes classified as
    their labels (AC-GAN's auxiliary loss, weighted by W in both updates, or by --class-loss-g in G's).

    Returns meter.STATS as a (5,) float tensor on the device: Loss_D, Loss_G, D(x), D(G(z)) before and
    after the D update (as probabilities). Nothing here waits for the host."""
    G, D, opt_d, opt_g, rng = state.g_train, state.d_train, state.opt_d, state.opt_g, state.aug_rng
    config = state.config
    D_real = D if y is None else functools.partial(D, y=y[0])  # D given the labels of what it judges
    D_fake = D if y is None else functools.partial(D, y=y[1])
    w = config.class_loss  # > 0 only in conditional runs (config.validate)
    w_g = w if config.class_loss_g is None else config.class_loss_g

    # (1) Update D: real and fake batches pass D separately (BatchNorm statistics as in S1).
    with autocast(real.device, dtype):
        fake = G(z) if y is None else G(z, y[1])
        d_real, classes_real = judge(D_real, augment(real, rng), w)
        if isinstance(augment, AdaptiveAugment):
            augment.observe(d_real)  # the overfitting signal: the signs of D's logits on real images
        d_fake = D_fake(augment(fake.detach(), rng))
        loss_real, loss_fake = loss.d_loss(d_real.float(), d_fake.float(), config.real_label)
        loss_d = loss_real + loss_fake
        if classes_real is not None and y is not None:
            loss_d = loss_d + w * classification_loss(classes_real, y[0])
    if loss.needs_gradient_penalty:
        loss_d = loss_d + loss.gradient_penalty(D_real, real, fake.detach().float(), config.gp_weight, generator=rng)
    if config.r1_gamma > 0:
        loss_d = loss_d + r1_penalty(D_real, augment(real, rng), config.r1_gamma)
    opt_d.zero_grad(set_to_none=True)
    scaler.scale(loss_d).backward()
    scaler.step(opt_d)

    # (2) Update G: maximise log D(G(z)) against the freshly updated D, whose weights are frozen meanwhile
    # (no D weight gradients to compute; under torchrun nothing for D's all-reduce: distributed.frozen).
    with autocast(real.device, dtype), frozen(D):
        d_fake_after, classes_fake = judge(D_fake, augment(fake, rng), w)
        loss_g = loss.g_loss(d_fake_after.float())
        if classes_fake is not None and y is not None:
            loss_g = loss_g + w_g * classification_loss(classes_fake, y[1])
    opt_g.zero_grad(set_to_none=True)
    scaler.scale(loss_g).backward()
    scaler.step(opt_g)
    scaler.update()

    with torch.no_grad():
        probs = [torch.sigmoid(x.detach().float()).mean() for x in (d_real, d_fake, d_fake_after)]
        return torch.stack([loss_d.detach().float(), loss_g.detach().float(), *probs])


def judge(D: Callable[..., Any], x: torch.Tensor, class_loss: float) -> tuple[torch.Tensor, torch.Tensor | None]:
    """D's logits on x, and its class logits when the run has --class-loss (else None)."""
    if class_loss > 0:
        logits, classes = D(x, classify=True)
        return logits, classes
    return D(x), None


def roll_back(state: TrainState, run: RunDir, log: MetricsLog) -> None:
    """Non-finite loss or weights: back to the last good checkpoint with half the learning rates,
    at most MAX_ROLLBACKS times; otherwise (or with --on-divergence stop) a DivergenceError."""
    c, policy = state.counters, state.config.on_divergence
    step, cks = c.step, run.checkpoints()
    if policy == "stop" or c.rollbacks >= MAX_ROLLBACKS or not cks:
        why = (
            "--on-divergence stop"
            if policy == "stop"
            else ("no checkpoint to roll back to" if not cks else f"{MAX_ROLLBACKS} rollbacks did not help")
        )
        raise distributed.echo(
            DivergenceError(
                f"training diverged at step {step} (non-finite loss or weights; {why}); last good checkpoint: "
                f"{cks[-1] if cks else 'none'}; lower --lr-d/--lr-g or try --loss hinge --spectral-norm"
            )
        )
    rollbacks = c.rollbacks + 1
    state.restore(read_checkpoint(cks[-1]))
    state.counters.rollbacks = rollbacks
    lr_g, lr_d = state.halve_learning_rates()
    log.rewind(state.counters.step)
    log.append({"step": state.counters.step, "event": "rollback", "diverged_at": step, "lr_g": lr_g, "lr_d": lr_d})
    print(
        f"warning: non-finite values at step {step}: rolled back to step {state.counters.step} with "
        f"learning rates halved (rollback {rollbacks} of {MAX_ROLLBACKS})",
        file=sys.stderr,
    )


def evaluate_or_stop(stop: StopRequest, *args: Any) -> bool:
    """evaluate_and_keep_best(*args), which a signal ends at once (an evaluation takes minutes): whether one came."""
    try:
        with stop.interruptible():
            evaluate_and_keep_best(*args)
    except Interrupted:
        return True
    return False


def evaluate_and_keep_best(
    state: TrainState, snapshots: Snapshots, log: MetricsLog, metrics: str, progress: bool, bar: object
) -> None:
    """An evaluation during training: `metrics` of the sampling generator into metrics.jsonl; a new best by
    the first of them is saved as checkpoints/best.safetensors."""
    from ..metrics.evaluate import evaluate_during_training

    c, config, key = state.counters, state.config, selection_metric(metrics)
    store = snapshots.data.store
    result = evaluate_during_training(
        state.sampler, config, store, config.eval_num, state.device, c.step, progress=progress, metrics=metrics
    )
    best_before = log.best(key)
    log.append(
        {"step": c.step, "epoch": c.epoch + 1} | {k: v for k, v in result.items() if isinstance(v, (int, float, str))}
    )
    if best_before is None or result[key] < best_before[key]:
        state.checkpoint(snapshots.run.path, snapshots.data_identity(), name=BEST_CHECKPOINT)
    shown = ", ".join(f"{k} {result[k]:.4g}" for k in ("fid", "fid_fashion", "kid") if k in result)
    line = f"step {c.step}: {shown} ({result['num_fake']} samples vs {result['num_real']} {result.get('split')} images)"
    (bar.write if bar is not None else print)(line)  # type: ignore[attr-defined]


def check_same_images(ck: Checkpoint, data: DeviceBatches, source: str) -> None:
    """Resume only on the images the run was trained on: any spelling of the same data is fine, other
    images (files added, removed or changed) are refused in one line naming both."""
    recorded = ck.meta["extra"].get("images_sha256")
    if recorded is None:  # a checkpoint from before this check: nothing to compare with
        return
    if recorded != data.images_sha256:
        trained = ck.config.data
        raise DataError(
            f"--data {source}: these are not the images this run was trained on ({data.num_images} images, sha256 "
            f"{data.images_sha256[:12]}; the run had {ck.meta['extra'].get('num_images')} images from {trained}, "
            f"sha256 {recorded[:12]}); resume with that data, or start a new --out"
        )
    check_same_labels(ck.meta["extra"].get("labels"), data.condition, source)
