"""Train the Fashion-MNIST classifier whose features give `fid_fashion`.

    python -m dcgan.metrics.train_classifier [--data fashion-mnist] [--epochs 5] [--out DIR]

Not used at run time: this is how the shipped weights were made (their JSON records this command).
Reads the data through the packed store (train split for training, test split for the reported
accuracy), trains `FashionClassifier` on the CPU in a few minutes, and writes
`fashion_classifier.safetensors` plus `fashion_classifier.json` (test accuracy, command, data
checksum) into --out (default: the package's metrics/weights folder). Refuses to write weights
whose test accuracy is below --min-accuracy.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import click
import numpy as np
import torch
from torch import nn

from .fashion import INFO, WEIGHTS, FashionClassifier, preprocess


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and shifts of up to 2 px (uint8 (N, 1, 28, 28) in, same out)."""
    n = len(x)
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    dx, dy = torch.randint(0, 5, (2,), generator=gen).tolist()  # one shift per batch keeps it cheap
    return padded[:, :, dy : dy + 28, dx : dx + 28]


@torch.no_grad()
def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        x = preprocess(torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])))
        correct += int((model(x).argmax(1).numpy() == labels[start : start + batch_size]).sum())
    return correct / len(images)


@click.command()
@click.option(
    "--data", default="fashion-mnist", show_default=True, help="Fashion-MNIST source (name or folder of IDX files)."
)
@click.option("--epochs", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 4096), default=128, show_default=True)
@click.option("--lr", type=float, default=3e-3, show_default=True, help="Peak learning rate (one-cycle schedule).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="Folder for the weights (default: the package's)."
)
@click.option("--min-accuracy", type=click.FloatRange(0, 1), default=0.90, show_default=True)
def main(data: str, epochs: int, batch_size: int, lr: float, seed: int, out: str | None, min_accuracy: float) -> None:
    """Train the Fashion-MNIST feature classifier used by fid_fashion."""
    from tqdm import tqdm

    from ..data.store import open_store
    from ..errors import DcganError

    try:
        train = open_store(data, 28, 1, split="train")
        test = open_store(data, 28, 1, split="test")
    except DcganError as e:
        raise click.ClickException(str(e)) from e
    if train.labels is None or test.labels is None:
        raise click.ClickException(f"--data {data}: no labels; a Fashion-MNIST source is needed")
    x_train, y_train = np.asarray(train.images), np.asarray(train.labels)
    x_test, y_test = np.asarray(test.images), np.asarray(test.labels)

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = FashionClassifier()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    x_all, y_all = torch.from_numpy(x_train), torch.from_numpy(y_train)
    start_time = time.time()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x_all), generator=gen)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{epochs}", file=sys.stderr, unit="step")
        for i in bar:
            idx = order[i * batch_size : (i + 1) * batch_size]
            x = preprocess(_augment(x_all[idx], gen))
            loss = loss_fn(model(x), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if i % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
        bar.close()
        print(f"epoch {epoch + 1}: test accuracy {accuracy(model, x_test, y_test):.4f}", file=sys.stderr)
    seconds = time.time() - start_time
    test_acc = accuracy(model, x_test, y_test)
    train_acc = accuracy(model, x_train[:10000], y_train[:10000])
    if test_acc < min_accuracy:
        raise click.ClickException(
            f"test accuracy {test_acc:.4f} is below --min-accuracy {min_accuracy}; "
            "weights not written (try more --epochs)"
        )

    from safetensors.torch import save

    from ..fsutil import atomic_write

    out_dir = Path(out) if out else WEIGHTS.parent
    weights, info = out_dir / WEIGHTS.name, out_dir / INFO.name
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    atomic_write(weights, save(state, metadata={"format": "dcgan-fashion-classifier-v1"}))
    os.chmod(weights, 0o644)  # the file ships with the package: readable by everyone, whatever the umask
    record = {
        "test_accuracy": round(test_acc, 6),
        "train_accuracy_first_10k": round(train_acc, 6),
        "test_images": len(x_test),
        "width": 32,
        "feature_dim": 128,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "train_seconds": round(seconds, 1),
        "data": data,
        "data_checksum_train": train.manifest.get("checksum"),
        "data_checksum_test": test.manifest.get("checksum"),
        "torch": torch.__version__,
        "command": " ".join(["python -m dcgan.metrics.train_classifier", *sys.argv[1:]]),
    }
    atomic_write(info, json.dumps(record, indent=2) + "\n")
    print(
        f"test accuracy {test_acc:.4f} after {epochs} epochs ({seconds:.0f} s); wrote {weights} "
        f"({weights.stat().st_size / 1e6:.2f} MB) and {info}"
    )


if __name__ == "__main__":  # pragma: no cover
    main()
