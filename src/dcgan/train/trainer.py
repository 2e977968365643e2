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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import checkpoint as ckpt
from ..config import TrainConfig
from ..errors import CheckpointError, ConfigError, DcganError
from ..io import make_grid, save_grid, side_by_side
from ..losses import D_LOSSES, G_LOSSES
from ..models import build_models
from ..sample import sample_latents, to_float
from .plots import plot_training
from .report import write_report

EXIT_INTERRUPTED = 0


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: no CUDA device is visible; use --device cpu or auto")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"--device {name}: unknown device; use auto, cpu, cuda or cuda:N")


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
            print(f"\n{signal.Signals(signum).name}: finishing this step and saving a checkpoint "
                  "(press Ctrl+C again to quit at once)", file=sys.stderr)

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
            raise CheckpointError(f"--resume: {out} has no checkpoints to resume from; drop --resume to start a new run")
        for path in reversed(existing):  # newest complete file that reads
            try:
                return ckpt.read_checkpoint(path)
            except CheckpointError as e:
                print(f"warning: skipping unreadable checkpoint {path.name}: {e}", file=sys.stderr)
        raise CheckpointError(f"--resume: no readable checkpoint in {out / 'checkpoints'}")
    if existing or (out / "metrics.jsonl").exists():
        raise DcganError(f"--out {out}: this run directory already holds a run; pass --resume to continue it "
                         "or choose a new --out")
    return None


def train(config: TrainConfig, out_dir: str | Path, resume: bool = False, progress: bool = True,
          max_steps: int | None = None, cache_dir: str | Path | None = None) -> Path:
    """Train per `config` into `out_dir`; returns the run directory.

    max_steps: stop after this many optimisation steps in total (None: run all epochs); used
    by tests and benchmarks. cache_dir: where packed stores live (None: the user cache).
    """
    from ..data.store import open_store, source_channels

    out = Path(out_dir)
    # Sanity checks before anything heavy.
    resume_from = prepare_run_dir(out, resume)
    if resume_from is not None:
        # A resumed run keeps its recipe; only its length (epochs) may change.
        config = TrainConfig.from_dict(dict(resume_from.config.to_dict(), epochs=config.epochs))
    config.validate()
    check_writable(out)
    device = resolve_device(config.device)
    if device.type == "cpu":
        torch.set_num_threads(max(1, os.cpu_count() or 1))

    # Load the data: decoded once into the packed store, then held in memory.
    channels = config.channels or source_channels(config.data)
    store = open_store(config.data, config.size, channels, split=config.split, limit=config.limit,
                       cache_dir=cache_dir, progress=progress)
    num_images = len(store)
    data = torch.from_numpy(np.ascontiguousarray(store.images)).to(device)
    batch_size = min(config.batch_size, num_images)
    steps_per_epoch = math.ceil(num_images / batch_size)
    total_steps = steps_per_epoch * config.epochs
    if max_steps is not None:
        total_steps = min(total_steps, max_steps)
    if num_images < 5000:
        print(f"note: {num_images} training images; GANs overfit small sets quickly", file=sys.stderr)

    # Build the networks and optimisers.
    torch.manual_seed(config.seed)
    generator, discriminator = build_models(config, channels)
    generator.to(device).train()
    discriminator.to(device).train()
    adam = dict(betas=(config.beta1, config.beta2))
    if device.type == "cuda":
        adam["fused"] = True
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_g, **adam)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, **adam)
    d_loss_fn, g_loss_fn = D_LOSSES[config.loss], G_LOSSES[config.loss]

    # Random streams: z from its own generator (saved in checkpoints); epoch order from (seed, epoch).
    z_rng = torch.Generator().manual_seed(config.seed)
    fixed_z = sample_latents(config, config.sample_grid, torch.Generator().manual_seed(config.seed + 7), device)
    step, epoch, batch_index, images_seen = 0, 0, 0, 0
    train_seconds = 0.0
    metrics_path = out / "metrics.jsonl"
    if resume_from is not None:
        ckpt.load_state(generator, resume_from.state("G"), "generator", resume_from.path)
        ckpt.load_state(discriminator, resume_from.state("D"), "discriminator", resume_from.path)
        opt_g.load_state_dict(resume_from.optimizer_state("optG"))
        opt_d.load_state_dict(resume_from.optimizer_state("optD"))
        z_rng.set_state(resume_from.state("rng")["z"])
        torch.set_rng_state(resume_from.state("rng")["torch"])
        m = resume_from.meta
        step, epoch, batch_index, images_seen = m["step"], m["epoch"], m["extra"]["batch_index"], m["images_seen"]
        train_seconds = float(m["extra"].get("train_seconds", 0.0))
        records = _read_records(metrics_path, step)
        _rewrite_records(metrics_path, records)  # drop lines logged after the checkpoint
        print(f"resuming {out} from step {step} (epoch {epoch + 1}, {images_seen} images seen)", file=sys.stderr)
    else:
        records = []
        (out / "config.json").write_text(config.to_json() + "\n", encoding="utf-8")

    def save(final: bool = False) -> Path:
        rng = {"z": z_rng.get_state(), "torch": torch.get_rng_state()}
        return ckpt.save_checkpoint(
            out, config=config, generator=generator, discriminator=discriminator, opt_g=opt_g, opt_d=opt_d,
            step=step, epoch=epoch, images_seen=images_seen, rng=rng, keep=config.keep_checkpoints,
            extra={"batch_index": batch_index, "channels": channels, "train_seconds": train_seconds,
                   "num_images": num_images, "data_checksum": store.manifest.get("checksum"), "final": final},
        )

    def epoch_order(e: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(config.seed * 1_000_003 + e)
        return torch.randperm(num_images, generator=g).to(device)

    def write_samples(tag: str) -> None:
        generator.eval()
        with torch.no_grad():
            fake = generator(fixed_z)
        generator.train()
        save_grid(fake, out / "samples" / f"{tag}.png", nrow=int(math.sqrt(config.sample_grid)) or None,
                  metadata={"Software": "dcgan", "dcgan:synthetic": "true", "dcgan:step": str(step)})

    def finish_outputs() -> None:
        plot_training(records, out / "plots")
        generator.eval()
        with torch.no_grad():
            fake = generator(fixed_z)
        generator.train()
        n = config.sample_grid
        real = store.images[: min(n, num_images)]
        grid_nrow = int(math.sqrt(n)) or None
        save_grid_arr = side_by_side(make_grid(real, nrow=grid_nrow), make_grid(fake, nrow=grid_nrow))
        from PIL import Image

        from ..io import atomic_save_png

        atomic_save_png(Image.fromarray(save_grid_arr[:, :, 0] if save_grid_arr.shape[2] == 1 else save_grid_arr),
                        out / "real_vs_fake.png", {"Software": "dcgan", "dcgan:synthetic": "right half"})
        summary = {
            "data": f"{config.data} ({store.manifest.get('kind')}, {num_images} images, split {config.split})",
            "device": str(device),
            "steps": step,
            "epochs completed": f"{epoch} of {config.epochs}",
            "images seen": images_seen,
            "training time": f"{train_seconds:.1f} s",
            "images/s": f"{images_seen / train_seconds:.0f}" if train_seconds > 0 else "-",
        }
        last = next((r for r in reversed(records) if "loss_d" in r), None)
        if last:
            summary.update({"last Loss_D": f"{last['loss_d']:.4f}", "last Loss_G": f"{last['loss_g']:.4f}",
                            "last D(x)": f"{last['d_real_mean']:.4f}", "last D(G(z))": f"{last['d_fake_mean_after']:.4f}"})
        write_report(out, config.to_dict(), summary)

    stop = StopFlag()
    stop.install()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total_steps, initial=min(step, total_steps), unit="step", dynamic_ncols=True,
                   file=sys.stderr, desc="train")
    # Sums over the logging interval, kept on the device: loss_d, loss_g, D(x), D(G(z)) before/after.
    sums = torch.zeros(5, device=device)
    interval_steps, interval_images = 0, 0
    t_interval = time.perf_counter()
    real_label = config.real_label
    interrupted = False
    try:
        while step < total_steps and epoch < config.epochs:
            order = epoch_order(epoch)
            while batch_index < steps_per_epoch and step < total_steps:
                # Fetch training data.
                idx = order[batch_index * batch_size : (batch_index + 1) * batch_size]
                real = to_float(data[idx])
                n = real.shape[0]
                z = sample_latents(config, n, z_rng, device)

                # (1) Update D: maximise log D(x) + log(1 - D(G(z))); real and fake pass D separately.
                fake = generator(z)
                d_real = discriminator(real)
                d_fake = discriminator(fake.detach())
                loss_real, loss_fake = d_loss_fn(d_real, d_fake, real_label)
                loss_d = loss_real + loss_fake
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()

                # (2) Update G: maximise log D(G(z)) with the freshly updated D.
                d_fake_after = discriminator(fake)
                loss_g = g_loss_fn(d_fake_after)
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()

                # Accumulate statistics on the device; no host sync here.
                with torch.no_grad():
                    sums += torch.stack([loss_d.detach(), loss_g.detach(), torch.sigmoid(d_real).mean(),
                                         torch.sigmoid(d_fake).mean(), torch.sigmoid(d_fake_after).mean()])
                step += 1
                batch_index += 1
                images_seen += n
                interval_steps += 1
                interval_images += n

                # Log: one host read per interval.
                end_of_epoch = batch_index >= steps_per_epoch
                if step % config.log_every == 0 or end_of_epoch or step >= total_steps or stop.requested:
                    vals = (sums / interval_steps).tolist()
                    now = time.perf_counter()
                    dt = now - t_interval
                    train_seconds += dt
                    if not all(math.isfinite(v) for v in vals):
                        raise DcganError(f"training diverged at step {step} (non-finite loss); the last good "
                                         f"checkpoint is in {out / 'checkpoints'}; resume with a lower --lr-d/--lr-g")
                    rec = {"step": step, "epoch": epoch + 1, "loss_d": vals[0], "loss_g": vals[1],
                           "d_real_mean": vals[2], "d_fake_mean_before": vals[3], "d_fake_mean_after": vals[4],
                           "images_per_second": interval_images / dt if dt > 0 else 0.0,
                           "elapsed": train_seconds, "images_seen": images_seen}
                    records.append(rec)
                    with open(metrics_path, "a", encoding="utf-8") as f:
                        f.write(json.dumps(rec) + "\n")
                    if bar is not None:
                        bar.set_postfix_str(f"Loss_D {vals[0]:.3f} Loss_G {vals[1]:.3f} D(x) {vals[2]:.3f} "
                                            f"D(G(z)) {vals[3]:.3f}/{vals[4]:.3f} {rec['images_per_second']:.0f} img/s",
                                            refresh=False)
                    sums.zero_()
                    interval_steps, interval_images = 0, 0
                    if config.plot_every and step % config.plot_every == 0:
                        plot_training(records, out / "plots")
                    t_interval = time.perf_counter()
                if bar is not None:
                    bar.update(1)
                if stop.requested:
                    interrupted = True
                    break
            if interrupted:
                break
            if batch_index >= steps_per_epoch:
                # End of epoch: samples from the fixed noise, plots, checkpoint.
                epoch += 1
                batch_index = 0
                write_samples(f"epoch_{epoch:04d}")
                plot_training(records, out / "plots")
                save()
                t_interval = time.perf_counter()
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        stop.restore()
        raise
    stop.restore()
    if bar is not None:
        bar.close()

    # Finish: final checkpoint (unless the epoch end just wrote it), real-vs-fake, plots, report.
    last = ckpt.list_checkpoints(out)
    if not last or last[-1].name != ckpt.checkpoint_name(step):
        save(final=not interrupted)
    finish_outputs()
    if interrupted:
        print(f"stopped at step {step}; resume with: dcgan train --out {out} --resume", file=sys.stderr)
    return out
