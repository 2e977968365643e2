"""The training loop: one function, split by sentence comments, as S1's loop reads.

Batches are drawn from the packed uint8 store held in memory (on a GPU: in device memory),
scaled to [-1, 1] in one place, and the step never waits for the host: losses and D outputs
are summed on the device and read once per `log_every` steps.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .. import checkpoint as ckpt
from ..augment import DEFAULT_POLICY
from ..config import RESUME_MAY_CHANGE, SELECTION_METRICS, TrainConfig, selection_metric
from ..device import resolve_device
from ..errors import CheckpointError, ConfigError, DcganError, DivergenceError
from ..io import atomic_save_png, make_grid, save_grid, side_by_side
from ..models import build_models
from ..pixels import to_float
from ..sample import sample_latents
from .plots import plot_training
from .report import write_report


def check_writable(out: Path) -> None:
    """Fail before training, not after an hour, when the run directory cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        with open(probe, "wb") as f:
            f.write(b"\0" * 4096)
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as e:
        raise DcganError(f"--out {out}: cannot write there ({e.strerror or e}); choose a writable folder") from e


@dataclass
class StopFlag:
    """Set by SIGINT/SIGTERM; the loop checks it at step boundaries and saves before leaving."""

    requested: bool = False
    count: int = 0
    previous: dict[int, Any] = field(default_factory=dict)

    def install(self) -> None:
        def handler(signum: int, frame: Any) -> None:
            self.count += 1
            if self.count > 1:  # a second Ctrl+C leaves at once
                raise KeyboardInterrupt
            self.requested = True
            print(
                f"\n{signal.Signals(signum).name}: finishing this step and saving a checkpoint "
                "(press Ctrl+C again to quit at once)",
                file=sys.stderr,
            )

        for s in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[s] = signal.signal(s, handler)
            except ValueError:  # not the main thread
                pass

    def restore(self) -> None:
        for s, h in self.previous.items():
            signal.signal(s, h)


def _read_records(path: Path, up_to_step: int | None) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue  # a torn last line from a kill
        if up_to_step is None or r.get("step", 0) <= up_to_step:
            out.append(r)
    return out


def _rewrite_records(path: Path, records: list[dict[str, Any]]) -> None:
    tmp = path.with_name(".metrics.jsonl.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, path)


def prepare_run_dir(out: Path, resume: bool) -> ckpt.Checkpoint | None:
    """Refuse to overwrite an existing run; find the checkpoint to resume from."""
    existing = ckpt.list_checkpoints(out)
    if resume:
        if not existing:
            raise CheckpointError(
                f"--resume: {out} has no checkpoints to resume from; drop --resume to start a new run"
            )
        for path in reversed(existing):  # newest complete file that reads
            try:
                return ckpt.read_checkpoint(path)
            except CheckpointError as e:
                print(f"warning: skipping unreadable checkpoint {path.name}: {e}", file=sys.stderr)
        raise CheckpointError(f"--resume: no readable checkpoint in {out / 'checkpoints'}")
    if existing or (out / "metrics.jsonl").exists():
        raise DcganError(
            f"--out {out}: this run directory already holds a run; pass --resume to continue it or choose a new --out"
        )
    return None


def train(
    config: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    max_steps: int | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """Train per `config` into `out_dir`; returns the run directory.

    max_steps: stop after this many optimisation steps in total (None: run all epochs); used
    by tests and benchmarks. cache_dir: where packed stores live (None: the user cache).
    """
    from ..data.store import open_store, source_channels

    out = Path(out_dir)
    # Sanity checks before anything heavy.
    resume_from = prepare_run_dir(out, resume)
    if resume_from is not None:
        # A resumed run keeps its recipe; only its length and run-control settings may change.
        config = TrainConfig.from_dict(
            dict(resume_from.config.to_dict(), **{k: getattr(config, k) for k in RESUME_MAY_CHANGE})
        )
    config.validate()
    check_writable(out)
    device = resolve_device(config.device)
    if device.type == "cpu":
        torch.set_num_threads(max(1, os.cpu_count() or 1))

    # Load the data: decoded once into the packed store, then held in memory.
    channels = config.channels or source_channels(config.data)
    store = open_store(
        config.data,
        config.size,
        channels,
        split=config.split,
        limit=config.limit,
        cache_dir=cache_dir,
        progress=progress,
    )
    num_images = len(store)
    with warnings.catch_warnings():
        # The store is a read-only memory map; training only reads it, so no copy is made on CPU.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        data = torch.from_numpy(np.ascontiguousarray(store.images)).to(device)
    batch_size = min(config.batch_size, num_images)
    steps_per_epoch = math.ceil(num_images / batch_size)
    total_steps = steps_per_epoch * config.epochs
    if max_steps is not None:
        total_steps = min(total_steps, max_steps)
    snapshot_epochs = config.snapshot_epochs(num_images)
    if num_images < SMALL_DATA and not config.augment and resume_from is None:
        print(
            f"warning: only {num_images} training images: D will overfit them; add --augment "
            f"{DEFAULT_POLICY} (DiffAugment, measured in benchmarks/RESULTS.md) or use --preset small-faces",
            file=sys.stderr,
        )

    # Build the networks and optimisers.
    torch.manual_seed(config.seed)
    generator, discriminator = build_models(config, channels)
    memory_format = torch.channels_last if _use_channels_last(config, device) else torch.contiguous_format
    generator.to(device, memory_format=memory_format).train()
    discriminator.to(device, memory_format=memory_format).train()
    ema = None
    if config.ema_half_life > 0:
        from ..ema import EMA

        ema = EMA(generator, config.ema_half_life)
    adam: dict[str, Any] = dict(betas=(config.beta1, config.beta2))
    if device.type == "cuda":
        adam["fused"] = True
    lr_g, lr_d = config.effective_lrs()
    if config.lr_scaling != "none":
        print(
            f"note: --lr-scaling {config.lr_scaling} at batch {config.batch_size}: lr_g {lr_g:.3g}, lr_d {lr_d:.3g}",
            file=sys.stderr,
        )
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr_g, **adam)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d, **adam)
    loss = get_loss(config.loss)
    if config.loss == "wgan-gp" and config.d_batchnorm and config.arch != "mlp":
        print(
            "warning: wgan-gp's gradient penalty is per sample; BatchNorm in D breaks it (add --no-d-batchnorm)",
            file=sys.stderr,
        )
    augment = _augmenter(config.augment)
    amp_dtype = _amp_dtype(config.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    def autocast():
        return torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None)

    # Random streams, each saved in checkpoints: z (CPU generator, same z on every device),
    # augmentation (device generator); the epoch order is a pure function of (seed, epoch).
    z_rng = torch.Generator().manual_seed(config.seed)
    aug_rng = torch.Generator(device=device).manual_seed(config.seed + 11)
    fixed_z = sample_latents(config, config.sample_grid, torch.Generator().manual_seed(config.seed + 7), device)
    counters = {"step": 0, "epoch": 0, "batch_index": 0, "images_seen": 0, "rollbacks": 0}
    train_seconds = 0.0
    metrics_path = out / "metrics.jsonl"

    def restore(ck: ckpt.Checkpoint) -> None:
        """Load the whole training state of a checkpoint (resume and divergence rollback)."""
        nonlocal train_seconds
        ckpt.load_state(generator, ck.state("G"), "generator", ck.path)
        ckpt.load_state(discriminator, ck.state("D"), "discriminator", ck.path)
        if ema is not None:
            ema_state = ck.state("G_ema")
            ema.load_state_dict(ema_state if ema_state else ck.state("G"))
        opt_g.load_state_dict(ck.optimizer_state("optG"))
        opt_d.load_state_dict(ck.optimizer_state("optD"))
        rng = ck.state("rng")
        z_rng.set_state(rng["z"])
        torch.set_rng_state(rng["torch"])
        if "aug" in rng and device.type == "cpu":
            aug_rng.set_state(rng["aug"])
        elif "aug_cuda" in rng and device.type == "cuda":
            aug_rng.set_state(rng["aug_cuda"])
        m = ck.meta
        counters.update(
            step=m["step"],
            epoch=m["epoch"],
            batch_index=m["extra"]["batch_index"],
            images_seen=m["images_seen"],
            rollbacks=m["extra"].get("rollbacks", 0),
        )
        train_seconds = float(m["extra"].get("train_seconds", 0.0))

    if resume_from is not None:
        restore(resume_from)
        records = _read_records(metrics_path, counters["step"])
        _rewrite_records(metrics_path, records)  # drop lines logged after the checkpoint
        print(
            f"resuming {out} from step {counters['step']} (epoch {counters['epoch'] + 1}, "
            f"{counters['images_seen']} images seen)",
            file=sys.stderr,
        )
    else:
        records = []
        (out / "config.json").write_text(config.to_json() + "\n", encoding="utf-8")

    def save(final: bool = False) -> Path:
        rng = {
            "z": z_rng.get_state(),
            "torch": torch.get_rng_state(),
            ("aug_cuda" if device.type == "cuda" else "aug"): aug_rng.get_state(),
        }
        return ckpt.save_checkpoint(
            out,
            config=config,
            generator=generator,
            discriminator=discriminator,
            opt_g=opt_g,
            opt_d=opt_d,
            ema=ema.module if ema is not None else None,
            step=counters["step"],
            epoch=counters["epoch"],
            images_seen=counters["images_seen"],
            rng=rng,
            keep=config.keep_checkpoints,
            extra={
                "batch_index": counters["batch_index"],
                "channels": channels,
                "train_seconds": train_seconds,
                "num_images": num_images,
                "data_checksum": store.manifest.get("checksum"),
                "final": final,
                "rollbacks": counters["rollbacks"],
            },
        )

    def log(rec: dict[str, Any]) -> None:
        records.append(rec)
        with open(metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")

    def epoch_order(e: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(config.seed * 1_000_003 + e)
        return torch.randperm(num_images, generator=g).to(device)

    def sampler() -> torch.nn.Module:
        return ema.module if ema is not None else generator

    @torch.no_grad()
    def fixed_samples() -> torch.Tensor:
        g = sampler()
        was = g.training
        g.eval()
        fake = g(fixed_z).float()
        g.train(was)
        return fake

    def end_of_epoch() -> None:
        fake = fixed_samples()
        save_grid(
            fake,
            out / "samples" / f"epoch_{counters['epoch']:04d}.png",
            nrow=int(math.sqrt(config.sample_grid)),
            metadata={"Software": "dcgan", "dcgan:synthetic": "true", "dcgan:step": str(counters["step"])},
        )
        # Mode-collapse signal: spread of the fixed-noise samples relative to real images.
        diversity = sample_diversity(fake, to_float(data[: min(len(fake), num_images)]))
        log({"step": counters["step"], "epoch": counters["epoch"], "sample_diversity": diversity})
        if diversity < 0.2:
            print(
                f"warning: epoch {counters['epoch']}: fixed-noise samples are {diversity:.2f}x as varied as real "
                "images: possible mode collapse (see samples/)",
                file=sys.stderr,
            )
        plot_training(records, out / "plots")
        save()

    def diverged() -> None:
        """Non-finite loss or weights: roll back to the last good checkpoint with half the learning rates."""
        step = counters["step"]
        cks = ckpt.list_checkpoints(out)
        if config.on_divergence == "stop" or counters["rollbacks"] >= 3 or not cks:
            why = (
                "--on-divergence stop"
                if config.on_divergence == "stop"
                else ("no checkpoint to roll back to" if not cks else "3 rollbacks did not help")
            )
            raise DivergenceError(
                f"training diverged at step {step} (non-finite loss or weights; {why}); "
                f"last good checkpoint: {cks[-1] if cks else 'none'}; lower --lr-d/--lr-g "
                "or try --loss hinge --spectral-norm"
            )
        rollbacks = counters["rollbacks"] + 1
        restore(ckpt.read_checkpoint(cks[-1]))
        counters["rollbacks"] = rollbacks
        for opt in (opt_g, opt_d):
            for group in opt.param_groups:
                group["lr"] *= 0.5
        del records[:]
        records.extend(_read_records(metrics_path, counters["step"]))
        _rewrite_records(metrics_path, records)
        log(
            {
                "step": counters["step"],
                "event": "rollback",
                "diverged_at": step,
                "lr_g": opt_g.param_groups[0]["lr"],
                "lr_d": opt_d.param_groups[0]["lr"],
            }
        )
        print(
            f"warning: non-finite values at step {step}: rolled back to step {counters['step']} with "
            f"learning rates halved (rollback {rollbacks} of 3)",
            file=sys.stderr,
        )

    key = selection_metric(config)

    def evaluate_now(step: int) -> None:
        """FID/KID of the sampling generator; the best checkpoint by FID is kept as best.safetensors."""
        from ..metrics.evaluate import evaluate_during_training

        result = evaluate_during_training(sampler(), config, store, config.eval_num, device, step, progress=progress)
        best_before = min((r[key] for r in records if key in r), default=math.inf)
        log(
            {
                "step": step,
                "epoch": counters["epoch"] + 1,
                **{k: v for k, v in result.items() if isinstance(v, (int, float, str))},
            }
        )
        if result[key] < best_before:
            save_best()
        shown = ", ".join(f"{k} {result[k]:.4g}" for k in SELECTION_METRICS if k in result)
        (bar.write if bar is not None else print)(
            f"step {step}: {shown} ({result['num_fake']} samples vs {result['num_real']} {result.get('split')} images)"
        )

    def save_best() -> None:
        rng = {"z": z_rng.get_state(), "torch": torch.get_rng_state()}
        ckpt.save_checkpoint(
            out,
            config=config,
            generator=generator,
            discriminator=discriminator,
            opt_g=opt_g,
            opt_d=opt_d,
            ema=ema.module if ema is not None else None,
            step=counters["step"],
            epoch=counters["epoch"],
            images_seen=counters["images_seen"],
            rng=rng,
            extra={"batch_index": counters["batch_index"], "channels": channels, "best": True},
            name="best.safetensors",
        )

    stop = StopFlag()
    stop.install()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=total_steps,
            initial=min(counters["step"], total_steps),
            unit="step",
            dynamic_ncols=True,
            file=sys.stderr,
            desc="train",
        )
    # Sums over the logging interval, kept on the device: loss_d, loss_g, D(x), D(G(z)) before/after.
    sums = torch.zeros(5, device=device)
    interval_steps, interval_images = 0, 0
    t_interval = time.perf_counter()
    real_label = config.real_label
    params = list(generator.parameters()) + list(discriminator.parameters())
    order, order_epoch = None, -1
    try:
        while counters["step"] < total_steps and counters["epoch"] < config.epochs:
            # Fetch training data: this epoch's permutation, sliced on the device.
            if order_epoch != counters["epoch"]:
                order, order_epoch = epoch_order(counters["epoch"]), counters["epoch"]
            b = counters["batch_index"]
            idx = order[b * batch_size : (b + 1) * batch_size]
            real = to_float(data[idx]).contiguous(memory_format=memory_format)
            n = real.shape[0]
            z = sample_latents(config, n, z_rng, device)

            # (1) Update D: real and fake batches pass D separately (BatchNorm statistics as in S1).
            with autocast():
                fake = generator(z)
                d_real = discriminator(augment(real, aug_rng))
                d_fake = discriminator(augment(fake.detach(), aug_rng))
                loss_real, loss_fake = loss.d_loss(d_real.float(), d_fake.float(), real_label)
                loss_d = loss_real + loss_fake
            if loss.needs_gradient_penalty:
                loss_d = loss_d + loss.gradient_penalty(
                    discriminator, real, fake.detach().float(), config.gp_weight, generator=aug_rng
                )
            if config.r1_gamma > 0:
                loss_d = loss_d + r1_penalty(discriminator, augment(real, aug_rng), config.r1_gamma)
            opt_d.zero_grad(set_to_none=True)
            scaler.scale(loss_d).backward()
            scaler.step(opt_d)

            # (2) Update G: maximise log D(G(z)) against the freshly updated D.
            with autocast():
                d_fake_after = discriminator(augment(fake, aug_rng))
                loss_g = loss.g_loss(d_fake_after.float())
            opt_g.zero_grad(set_to_none=True)
            scaler.scale(loss_g).backward()
            scaler.step(opt_g)
            scaler.update()

            # Update G_ema; accumulate statistics on the device (no host sync here).
            if ema is not None:
                ema.update(generator, n)
            with torch.no_grad():
                sums += torch.stack(
                    [
                        loss_d.detach().float(),
                        loss_g.detach().float(),
                        torch.sigmoid(d_real.detach().float()).mean(),
                        torch.sigmoid(d_fake.detach().float()).mean(),
                        torch.sigmoid(d_fake_after.detach().float()).mean(),
                    ]
                )
            counters["step"] += 1
            counters["batch_index"] += 1
            counters["images_seen"] += n
            interval_steps += 1
            interval_images += n
            step = counters["step"]
            end_of_epoch_now = counters["batch_index"] >= steps_per_epoch

            # Log: one host read per interval; the divergence check rides on it.
            if step % config.log_every == 0 or end_of_epoch_now or step >= total_steps or stop.requested:
                with torch.no_grad():
                    weights_ok = torch.stack([p.detach().float().abs().sum() for p in params]).sum().isfinite()
                vals = (sums / interval_steps).tolist()
                now = time.perf_counter()
                dt = now - t_interval
                train_seconds += dt
                sums.zero_()
                interval_steps, interval_images_logged, interval_images = 0, interval_images, 0
                if not (all(math.isfinite(v) for v in vals) and bool(weights_ok)):
                    if bar is not None:
                        bar.n = counters["step"]
                    diverged()
                    order_epoch = -1
                    t_interval = time.perf_counter()
                    continue
                rec = {
                    "step": step,
                    "epoch": counters["epoch"] + 1,
                    "loss_d": vals[0],
                    "loss_g": vals[1],
                    "d_real_mean": vals[2],
                    "d_fake_mean_before": vals[3],
                    "d_fake_mean_after": vals[4],
                    "images_per_second": interval_images_logged / dt if dt > 0 else 0.0,
                    "elapsed": train_seconds,
                    "images_seen": counters["images_seen"],
                }
                log(rec)
                if bar is not None:
                    bar.set_postfix_str(
                        f"Loss_D {vals[0]:.3f} Loss_G {vals[1]:.3f} D(x) {vals[2]:.3f} "
                        f"D(G(z)) {vals[3]:.3f}/{vals[4]:.3f} {rec['images_per_second']:.0f} img/s",
                        refresh=False,
                    )
                if config.plot_every and step % config.plot_every == 0:
                    plot_training(records, out / "plots")
                if config.eval_every and step % config.eval_every == 0:
                    evaluate_now(step)
                t_interval = time.perf_counter()
            if bar is not None:
                bar.update(1)
            if end_of_epoch_now:
                # End of epoch: samples from the fixed noise, plots, checkpoint (every
                # `snapshot_epochs` epochs, and always after the last one).
                counters["epoch"] += 1
                counters["batch_index"] = 0
                if counters["epoch"] % snapshot_epochs == 0 or counters["epoch"] >= config.epochs:
                    end_of_epoch()
                t_interval = time.perf_counter()
            if stop.requested:
                break
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        stop.restore()
        raise
    stop.restore()
    if bar is not None:
        bar.close()
    interrupted = stop.requested
    step = counters["step"]
    epoch = counters["epoch"]
    images_seen = counters["images_seen"]

    # Finish: final checkpoint (unless the epoch end just wrote it), real-vs-fake, plots, report.
    last = ckpt.list_checkpoints(out)
    if not last or last[-1].name != ckpt.checkpoint_name(step):
        save(final=not interrupted)
    plot_training(records, out / "plots")
    grid_nrow = int(math.sqrt(config.sample_grid))
    real_grid = make_grid(store.images[: min(config.sample_grid, num_images)], nrow=grid_nrow)
    both = side_by_side(real_grid, make_grid(fixed_samples(), nrow=grid_nrow))
    atomic_save_png(
        Image.fromarray(both[:, :, 0] if both.shape[2] == 1 else both),
        out / "real_vs_fake.png",
        {"Software": "dcgan", "dcgan:synthetic": "right half"},
    )
    summary = {
        "data": f"{config.data} ({store.manifest.get('kind')}, {num_images} images, split {config.split})",
        "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "steps": step,
        "epochs completed": f"{epoch} of {config.epochs}",
        "images seen": images_seen,
        "training time": f"{train_seconds:.1f} s",
        "images/s": f"{images_seen / train_seconds:.0f}" if train_seconds > 0 else "-",
    }
    last_rec = next((r for r in reversed(records) if "loss_d" in r), None)
    if last_rec:
        summary.update(
            {
                "last Loss_D": f"{last_rec['loss_d']:.4f}",
                "last Loss_G": f"{last_rec['loss_g']:.4f}",
                "last D(x)": f"{last_rec['d_real_mean']:.4f}",
                "last D(G(z))": f"{last_rec['d_fake_mean_after']:.4f}",
            }
        )
    evals = [r for r in records if key in r]
    if evals:
        best = min(evals, key=lambda r: r[key])
        summary[f"best {key}"] = f"{best[key]:.4g} at step {best['step']} (checkpoints/best.safetensors)"
    write_report(out, config.to_dict(), summary)
    if interrupted:
        print(f"stopped at step {step}; resume with: dcgan train --out {out} --resume", file=sys.stderr)
    return out


SMALL_DATA = 5000  # below this many images, training recommends DiffAugment


def get_loss(name: str) -> Any:
    from ..losses import LOSSES

    if name not in LOSSES:
        raise ConfigError(f"--loss: unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return LOSSES[name]


def r1_penalty(discriminator: torch.nn.Module, real: torch.Tensor, gamma: float) -> torch.Tensor:
    from ..losses import r1_penalty as penalty

    return penalty(discriminator, real, gamma)


def _augmenter(policy: str) -> Any:
    """DiffAugment for D's inputs (real and fake, in both steps), or the identity."""
    if not policy:
        return lambda x, rng: x
    from ..augment import diff_augment, parse_policy

    parse_policy(policy)
    return lambda x, rng: diff_augment(x, policy, generator=rng)


def _amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return None
    if mode == "fp16":
        return torch.float16
    if mode == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16


def _use_channels_last(config: TrainConfig, device: torch.device) -> bool:
    if config.arch == "mlp":
        return False
    return config.channels_last == "on" or (config.channels_last == "auto" and device.type == "cuda")


@torch.no_grad()
def sample_diversity(fake: torch.Tensor, real: torch.Tensor) -> float:
    """Mean pairwise distance between generated images over the same for real ones (1 ~ as varied)."""

    def spread(x: torch.Tensor) -> float:
        flat = x.float().flatten(1)
        if len(flat) < 2:
            return 0.0
        return float(torch.pdist(flat).mean())

    r = spread(real)
    return spread(fake) / r if r > 0 else 0.0
