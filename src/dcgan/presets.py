"""The presets: the published systems S1..S5, one row each (docs/published-systems.md), and our own recipes
with what backs each (benchmarks/RESULTS.md). A preset is a dict of TrainConfig fields; `dcgan presets`
lists them, `--preset NAME` starts from one (config.resolve_config)."""

from __future__ import annotations

from typing import Any

# The published systems, one row each (docs/published-systems.md), and our own recipes.
PRESETS: dict[str, dict[str, Any]] = {
    # S1/S2: PyTorch DCGAN on CelebA 64x64; batch 128, Adam 2e-4 (0.5, 0.999), N(0, 0.02), BCE.
    "celeba-dcgan": dict(data="celeba", size=64, channels=3, arch="dcgan", epochs=5),
    # S3: the same DCGAN at 96x96 on a few hundred face photos.
    "faces-96": dict(size=96, channels=3, arch="dcgan", epochs=50),
    # S4: D without BN and with a fully connected head, BCEWithLogits, real targets 0.9, uniform z.
    "celeba-variant": dict(
        data="celeba",
        size=64,
        channels=3,
        arch="dcgan-fc",
        d_batchnorm=False,
        real_label=0.9,
        z_dist="uniform",
        epochs=5,
    ),
    # S5: Keras MLP GAN on Fashion-MNIST 28x28, 50 epochs, Glorot init.
    "fashion-mlp": dict(data="fashion-mnist", size=28, channels=1, arch="mlp", init="keras", epochs=50),
    # Our default main job: the S1 recipe adapted to 28 px grayscale.
    "fashion-dcgan": dict(data="fashion-mnist", size=28, channels=1, arch="dcgan", epochs=5),
    # Ours, chosen by measurement (benchmarks/RESULTS.md, "choosing the recommended presets" and "Batch 32"):
    # the S1 recipe at a smaller batch. Of five recipes trained for the same 180 s on the 2-core CPU, batch 64
    # gave the lowest FID (75.5 against 91.5 at batch 128; EMA, TTUR and hinge + spectral norm were worse);
    # at 600 s batch 32 beat 64 and 16 (the same images per second, twice the steps of 64).
    "fashion-best": dict(data="fashion-mnist", size=28, channels=1, arch="dcgan", batch_size=32, epochs=10),
    # Class-conditional Fashion-MNIST (docs/conditional.md): fashion-best's recipe (the S1 recipe at batch 32,
    # BCE, BatchNorm in D) with conditional BatchNorm in G, a projection D and AC-GAN's auxiliary class loss
    # (weight 1 in D's update, 0.25 in G's), chosen by measurement at 10 CPU minutes (benchmarks/RESULTS.md):
    # class consistency above 90% (71.5% without the class loss) and a lower FID than fashion-best's.
    "fashion-cond": dict(
        data="fashion-mnist",
        size=28,
        channels=1,
        arch="dcgan",
        batch_size=32,
        epochs=10,
        conditional=True,
        class_loss=1.0,
        class_loss_g=0.25,
    ),
    # The S1 recipe at batch 64 for faces at 64 px (fashion-best's choice at 180 s, measured on Fashion-MNIST
    # only; no face data here: batch 32 was measured at 28 px, where a step costs far less).
    "faces-64-best": dict(data="celeba", size=64, channels=3, arch="dcgan", batch_size=64, epochs=10),
    # A few hundred face photos (S3's setting): faces-64-best with DiffAugment on every D input and
    # enough epochs for ~250,000 images seen at 400 images; grids and checkpoints every 25 epochs.
    # DiffAugment follows its paper's small-data setting; in our three-seed Fashion-MNIST runs it did not help
    # at 2,000 steps, and at 12,000 steps adaptive augmentation helped on 100 images only (benchmarks/RESULTS.md):
    # not yet backed by our numbers.
    "small-faces": dict(
        size=64,
        channels=3,
        arch="dcgan",
        batch_size=64,
        epochs=600,
        augment="color,translation,cutout",
        snapshot_every=25,
    ),
}

#: Presets that reproduce a published system (the rest are our own recommendations).
PUBLISHED = ("celeba-dcgan", "faces-96", "celeba-variant", "fashion-mlp")

DEFAULT_PRESET = "fashion-dcgan"

#: What backs each of our own presets (`dcgan presets` prints it; the figures are in benchmarks/RESULTS.md).
PRESET_EVIDENCE = {
    "fashion-best": "measured: the best of five recipes at 180 CPU seconds (batch 64: FID 75.5 vs 91.5 for "
    "fashion-dcgan, 1,000 samples); at 600 s (10,000 samples) FID 20.20 and 19.26 on a CPU with AVX-512 BF16; without it "
    "FID 22.65 at batch 32, 25.46 at 64, 30.17 for fashion-dcgan",
    "fashion-cond": "measured at 10 CPU minutes (10,000 samples): FID 17.13 vs 19.26 and 20.20 for fashion-best, "
    "class consistency 91.6% (93.3% with G's class-loss weight 0.5, FID 20.43; 71.5% without the class loss)",
    "faces-64-best": "carried over from the Fashion-MNIST measurement at batch 64 without measurement on faces",
    "small-faces": "carried over from the DiffAugment paper without measurement on faces; on 100-1,000 Fashion-MNIST "
    "images (three seeds) DiffAugment was 13-28% worse than none at 2,000 steps; at 12,000 steps ADA was 17% better "
    "on 100 images and 7-10% worse on 500-1,000",
}
