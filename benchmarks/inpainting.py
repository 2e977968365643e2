"""Inpainting, outpainting and projection on held-out Fashion-MNIST test images, against classical fills.

A generator is trained inside the benchmark for --train-seconds (the `fashion-best` recipe on the train
split; the trainer's time budget, `dcgan train --max-minutes`, ends it with a checkpoint), or taken from --run. Then, on --num
test images at 28 px (a fixed random subset, --seed):

- three holes: a centre square of 25% and of 50% of the area, and the left half (outpainting);
- four fillers: ours (`dcgan.latent.inverse.inpaint`: Yeh et al.'s contextual + prior loss, the best of
  --candidates, blended into the image), OpenCV's `cv2.inpaint` (Telea and Navier-Stokes, radius 3), and
  the mean of the known pixels; ours is also scored with the feathered blend of the same latents, which
  separates what the generator contributes from what Poisson blending (a harmonic fill itself) does;
- scores on the hole only: PSNR and SSIM (7x7 uniform window, data range 255; scikit-image's
  `structural_similarity` when installed, else this file's implementation of the same formula, and the
  JSON says which), and realism as the domain FID (`fid_fashion`) of the completed images against the
  test split (the originals' own domain FID is the floor at the same count: with a few hundred images
  FID is biased upwards, so compare rows with each other, not with published FIDs);
- projection: PSNR/SSIM of the reconstructions of --projection-num test images (the inpainting ones first) and
  seconds per batch of 64.

    python benchmarks/inpainting.py --figures docs/inverse    # ~5 minutes on a 2-core CPU
    python benchmarks/inpainting.py --run runs/fashion --num 1000 --steps 300

Prints one table and writes benchmarks/results/inpainting.json (and, with --figures DIR, example grids).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

HOLES = {"centre 25%": ("centre", 0.25), "centre 50%": ("centre", 0.5), "left half (outpaint)": ("left", 0.5)}


def hole_mask(kind: str, fraction: float, size: int = 28) -> np.ndarray:
    """(size, size) bool: a centred square of `fraction` of the area, or the left `fraction` of the columns."""
    from dcgan.latent.inverse import side_mask

    if kind == "left":
        return side_mask(size, "left", fraction)
    side = round(size * math.sqrt(fraction))
    start = (size - side) // 2
    m = np.zeros((size, size), bool)
    m[start : start + side, start : start + side] = True
    return m


def ssim_map_own(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SSIM map of two uint8 (H, W) images: 7x7 uniform window, data range 255, K1 0.01, K2 0.03, sample
    covariance, symmetric padding: the formula and defaults of scikit-image's structural_similarity."""
    win, pad = 7, 3
    x = torch.from_numpy(np.pad(a.astype(np.float64), pad, mode="symmetric"))[None, None]
    y = torch.from_numpy(np.pad(b.astype(np.float64), pad, mode="symmetric"))[None, None]

    def mean(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(t, win, stride=1)

    norm = win * win / (win * win - 1)
    ux, uy = mean(x), mean(y)
    vx, vy, vxy = norm * (mean(x * x) - ux * ux), norm * (mean(y * y) - uy * uy), norm * (mean(x * y) - ux * uy)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s[0, 0].numpy()


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    try:
        from skimage.metrics import structural_similarity
    except ImportError:
        return ssim_map_own(a, b)
    return structural_similarity(a, b, win_size=7, data_range=255, full=True)[1]


def hole_scores(done: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM over the hole's pixels; done, truth uint8 (N, 1, S, S); hole (S, S) bool."""
    d, t = done[:, 0].astype(np.float64), truth[:, 0].astype(np.float64)
    mse = ((d - t) ** 2)[:, hole].mean(1)
    psnr = 10 * np.log10(255**2 / np.maximum(mse, 1e-10))
    ssim = [ssim_map(done[i, 0], truth[i, 0])[hole].mean() for i in range(len(done))]
    return {"psnr": float(psnr.mean()), "ssim": float(np.mean(ssim))}


def classical(images: np.ndarray, hole: np.ndarray, method: str) -> np.ndarray | None:
    """OpenCV's inpaint (telea, ns) or the mean of the known pixels, per image; None without OpenCV."""
    out = images.copy()
    if method == "mean fill":
        for i in range(len(out)):
            out[i, 0][hole] = np.uint8(round(float(images[i, 0][~hole].mean())))
        return out
    try:
        import cv2
    except ImportError:
        return None
    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    mask = hole.astype(np.uint8) * 255
    for i in range(len(out)):
        out[i, 0] = cv2.inpaint(np.ascontiguousarray(images[i, 0]), mask, 3, flag)
    return out


def domain_fid(store: Any, images: np.ndarray, num_real: int) -> float:
    from dcgan.metrics.context import MetricContext
    from dcgan.metrics.registry import compute_metrics

    ctx = MetricContext(store, num_real, fake_images=torch.from_numpy(images), progress=False)
    return float(compute_metrics(ctx, ("fid_fashion",))["fid_fashion"])


def inception_fid_kid(store: Any, images: np.ndarray, num_real: int) -> dict[str, float]:
    """FID and KID (TF-Inception) of `images` against `num_real` test images (cached after the first call).
    With a few dozen images FID is strongly biased upwards: compare methods at equal counts; KID is unbiased."""
    from dcgan.metrics.context import MetricContext
    from dcgan.metrics.registry import compute_metrics

    ctx = MetricContext(store, num_real, fake_images=torch.from_numpy(images), progress=False)
    values = compute_metrics(ctx, ("fid", "kid"))
    return {"fid": float(values["fid"]), "kid": float(values["kid"])}


def train_generator(seconds: float, work: Path) -> Path:
    from dcgan import resolve_config, train

    config = resolve_config("fashion-best", epochs=1000, snapshot_every=0, eval_every=0)
    return train(config, work / "run", progress=False, max_seconds=seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", help="a trained Fashion-MNIST run (28 px gray); default: train one here")
    ap.add_argument("--train-seconds", type=float, default=120.0)
    ap.add_argument("--num", type=int, default=64, help="held-out test images")
    ap.add_argument("--projection-num", type=int, default=None, help="test images to project (default: --num)")
    ap.add_argument("--steps", type=int, default=100, help="Adam steps on z")
    ap.add_argument("--candidates", type=int, default=2, help="inpainting candidates (the best is scored)")
    ap.add_argument("--restarts", type=int, default=2, help="projection restarts")
    ap.add_argument("--fid-real", type=int, default=10_000, help="test images for the domain-FID reference")
    ap.add_argument(
        "--inception-real", type=int, default=1000, help="test images for the Inception FID/KID reference (0: skip)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--json", default="benchmarks/results/inpainting.json")
    ap.add_argument("--figures", default=None, help="folder for example grids (docs/inverse)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from dcgan.data.store import open_store
    from dcgan.generator import load_generator
    from dcgan.io import save_grid
    from dcgan.latent.inverse import blend as blend_images
    from dcgan.latent.inverse import inpaint, opencv_available, project

    test = open_store("fashion-mnist", 28, 1, split="test", progress=False)
    rng = np.random.default_rng(args.seed)
    idx = np.sort(rng.choice(len(test), args.num, replace=False))
    truth = np.stack([np.asarray(test.images[i]) for i in idx]).astype(np.uint8)  # (N, 1, 28, 28)

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        trained_seconds = None
        run = args.run
        if run is None:
            t0 = time.perf_counter()
            run = train_generator(args.train_seconds, Path(work))
            trained_seconds = time.perf_counter() - t0
        model = load_generator(run)
        if (model.size, model.channels) != (28, 1):
            sys.exit(f"--run {run}: a 28 px gray Fashion-MNIST run is needed, this one is {model.size} px")
        step = model.step

    results: dict[str, Any] = {"tasks": {}}
    figure_rows: list[np.ndarray] = []
    show = min(8, args.num)
    floor = domain_fid(test, truth, args.fid_real)
    floor_inception = inception_fid_kid(test, truth, args.inception_real) if args.inception_real else {}
    for task, (kind, fraction) in HOLES.items():
        hole = hole_mask(kind, fraction)
        rows: dict[str, Any] = {}
        t0 = time.perf_counter()
        ours, feathered = [], []
        for b in range(0, args.num, 64):
            x = torch.from_numpy(truth[b : b + 64])
            c = inpaint(
                model, x, np.stack([hole] * len(x)), steps=args.steps, candidates=args.candidates, seed=args.seed
            )
            ours.append(c.images[:, 0].numpy())
            # The same best latents with the feathered blend: what the generator adds, without Poisson's smoothing.
            feathered += [blend_images(x[i].numpy(), c.generated[i, 0].numpy(), hole, "feather") for i in range(len(x))]
        blend = c.blend
        fills = {f"ours (GAN, {blend})": np.concatenate(ours)}
        if blend != "feather":
            fills["ours (GAN, feather)"] = np.stack(feathered)
        ours_seconds = time.perf_counter() - t0
        for method in ("telea", "ns", "mean fill"):
            done = classical(truth, hole, method)
            if done is not None:
                fills[{"ns": "navier-stokes"}.get(method, method)] = done
        for name, done in fills.items():
            rows[name] = dict(hole_scores(done, truth, hole), fid_fashion=domain_fid(test, done, args.fid_real))
            if args.inception_real:
                rows[name].update(inception_fid_kid(test, done, args.inception_real))
        rows[next(iter(fills))]["seconds"] = ours_seconds
        results["tasks"][task] = {"hole_pixels": int(hole.sum()), "methods": rows}
        masked = truth[:show].copy()
        masked[:, 0][:, hole] = 0
        figure_rows += [masked] + [done[:show] for done in fills.values()]
        print(f"{task}: done", file=sys.stderr)

    # Projection: reconstructions of --projection-num test images (the first --num are the inpainting ones),
    # and the time of one batch of 64.
    pnum = args.projection_num or args.num
    more = np.setdiff1d(np.arange(len(test)), idx)
    extra = np.sort(rng.choice(more, max(0, pnum - args.num), replace=False))
    truth_p = np.concatenate(
        [truth[:pnum], np.stack([np.asarray(test.images[i]) for i in extra]).astype(np.uint8)]
        if len(extra)
        else [truth[:pnum]]
    )
    t0 = time.perf_counter()
    recon = []
    batch_seconds = []
    for b in range(0, pnum, 64):
        t1 = time.perf_counter()
        p = project(
            model, torch.from_numpy(truth_p[b : b + 64]), steps=args.steps, restarts=args.restarts, seed=args.seed
        )
        batch_seconds.append((time.perf_counter() - t1, len(p.images)))
        recon.append(p.images.numpy())
    recon_all = np.concatenate(recon)
    full = np.ones((28, 28), bool)
    proj = dict(hole_scores(recon_all, truth_p, full), fid_fashion=domain_fid(test, recon_all, args.fid_real))
    proj["num_images"] = pnum
    full_batches = [s for s, n in batch_seconds if n == 64]
    proj["seconds_per_batch_of_64"] = float(np.mean(full_batches)) if full_batches else None
    proj["steps"], proj["restarts"] = args.steps, args.restarts

    ssim_impl = "own (7x7 uniform, scikit-image's formula)"
    try:
        import skimage

        ssim_impl = f"scikit-image {skimage.__version__} structural_similarity (win 7, data range 255)"
        own = ssim_map_own(truth_p[0, 0], recon_all[0, 0])
        from skimage.metrics import structural_similarity

        ref = structural_similarity(truth_p[0, 0], recon_all[0, 0], win_size=7, data_range=255, full=True)[1]
        results["ssim_own_vs_skimage_max_abs_diff"] = float(np.abs(own - ref).max())
    except ImportError:
        pass
    results.update(
        projection=proj,
        originals_fid_fashion=floor,
        originals_inception=floor_inception,
        inception_real=args.inception_real,
        num_images=args.num,
        fid_real=args.fid_real,
        steps=args.steps,
        candidates=args.candidates,
        blend=blend,
        opencv=opencv_available(),
        ssim=ssim_impl,
        run=str(run) if args.run else f"fashion-best trained here for {trained_seconds:.0f} s (step {step})",
        train_seconds=trained_seconds,
        total_seconds=time.perf_counter() - start,
        threads=torch.get_num_threads(),
        machine=f"{platform.machine()} {platform.processor() or ''}".strip(),
        command=" ".join(["python", *sys.argv]),
    )
    print(f"\n{'task':<22} {'method':<22} {'PSNR dB':>8} {'SSIM':>6} {'fid_fashion':>11} {'FID':>7} {'KID':>7}")
    for task, r in results["tasks"].items():
        for name, m in r["methods"].items():
            inc = f" {m['fid']:>7.1f} {m['kid']:>7.4f}" if "fid" in m else ""
            print(f"{task:<22} {name:<22} {m['psnr']:>8.2f} {m['ssim']:>6.3f} {m['fid_fashion']:>11.3f}{inc}")
    print(f"{'projection':<22} {'ours':<22} {proj['psnr']:>8.2f} {proj['ssim']:>6.3f} {proj['fid_fashion']:>11.3f}")
    inc = f" {floor_inception['fid']:>7.1f} {floor_inception['kid']:>7.4f}" if floor_inception else ""
    print(f"{'originals':<22} {'':<22} {'':>8} {'':>6} {floor:>11.3f}{inc}")
    print(
        f"projection of {pnum} images: {proj['seconds_per_batch_of_64']} s per batch of 64 ({args.steps} steps, "
        f"{args.restarts} restarts)"
    )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if args.figures:
        fig = Path(args.figures)
        fig.mkdir(parents=True, exist_ok=True)
        save_grid(np.concatenate(figure_rows), fig / "inpainting.png", nrow=show, scale=3)
        save_grid(np.concatenate([truth_p[:show], recon_all[:show]]), fig / "projection.png", nrow=show, scale=3)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
