"""Export a trained generator for use outside dcgan: `dcgan export RUN --format FORMAT --out DIR`.

What is exported is the generator alone, exactly the one `load_generator` samples with (G_ema when the
run kept one), in eval mode, fp32, on the CPU, with a dynamic batch dimension. Every format is a folder:

    hf           config.json + model.safetensors + README.md + card.json (a Hugging Face-style folder that
                 `load_generator(DIR)` and `dcgan.hub.DcganGenerator.from_pretrained(DIR)` read back)
    safetensors  generator.safetensors (the weights, the config and counters as metadata) + README.md + card.json
    onnx         generator.onnx (input "latents" (N, z_dim) float32; "labels" (N,) int64 for a conditional
                 model; output "images" (N, C, H, W) in [-1, 1]) + README.md + card.json
    torchscript  generator.pt (traced; the same inputs and output) + README.md + card.json

Each export is checked before it is published: the safetensors files are read back with
`load_generator` and must give bit-identical images; ONNX runs in onnxruntime and TorchScript in torch,
and both must match PyTorch within 1e-5 at batch sizes 1 and 5. The folder is written under a temp
name beside --out and renamed into place, so a failed export leaves nothing behind. The model card
(`dcgan.card`) travels with every format: the synthetic-image note included.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .card import CARD_JSON, card_markdown, model_card
from .checkpoint import FORMAT, checkpoint_label, read_checkpoint
from .errors import DcganError
from .fsutil import atomic_write
from .generator import EXPORTED_WEIGHTS, GENERATOR_ONLY, TrainedGenerator, load_generator

FORMATS = ("hf", "safetensors", "onnx", "torchscript")
DEFAULT_FORMAT = "hf"
FILES = {"hf": EXPORTED_WEIGHTS, "safetensors": "generator.safetensors", "onnx": "generator.onnx"}
FILES["torchscript"] = "generator.pt"
HF_CONFIG = "config.json"
README = "README.md"
ONNX_OPSET = 17  # run by every onnxruntime since 1.12
TOLERANCE = 1e-5  # max abs difference allowed between PyTorch and the exported model
CHECK_BATCHES = (1, 5)  # batch sizes the ONNX / TorchScript files are checked at (the batch is dynamic)
NEEDS = {"onnx": (("onnx", "onnxruntime"), "export"), "hf": ((), None)}
NEEDS.update({"safetensors": ((), None), "torchscript": ((), None)})
TRAINING_ONLY = ("batch_index", "rollbacks", "final", "best")  # checkpoint extras that mean nothing to a sampler


def condition_of(model: TrainedGenerator) -> Any:
    """What a conditional generator is conditioned on (`dcgan.labels.Condition`), or None: its `labels` input
    takes class indices (N,) int64 or attribute vectors (N, A) in {-1, 1}."""
    return getattr(model, "condition", None)


def require(fmt: str) -> None:
    """The optional packages `fmt` needs, or one line naming the pip command."""
    modules, extra = NEEDS[fmt]
    for name in modules:
        try:
            __import__(name)
        except ImportError:
            raise DcganError(
                f"--format {fmt} needs the {name} package: pip install 'dcgan[{extra}]' (or pip install "
                f"{' '.join(modules)})"
            ) from None


# ---------------------------------------------------------------------------------------------
# The generator as a plain inference module.


class InferenceGenerator(nn.Module):
    """G for export: eval mode, fp32, CPU, parametrizations (spectral norm) folded into plain weights.
    forward(latents) or, for a conditional model, forward(latents, labels)."""

    def __init__(self, generator: nn.Module, conditional: bool) -> None:  # noqa: D107
        super().__init__()
        g = copy.deepcopy(generator).float().cpu().eval()
        for module in g.modules():
            if torch.nn.utils.parametrize.is_parametrized(module):
                for name in list(module.parametrizations.keys()):
                    torch.nn.utils.parametrize.remove_parametrizations(module, name, leave_parametrized=True)
        self.g = g.to(memory_format=torch.contiguous_format)
        self.conditional = conditional

    def forward(self, latents: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditional:
            return self.g(latents, labels)
        return self.g(latents)


def example_inputs(model: TrainedGenerator, batch: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """The first `batch` latents of `seed` (and the condition's default labels for a conditional model)."""
    z = model.latents(batch, seed=seed).float().cpu()
    condition = condition_of(model)
    if condition is not None:
        return z, condition.as_tensor(condition.default_labels(batch, seed=seed)).cpu()
    return (z,)


def input_names(model: TrainedGenerator) -> list[str]:
    return ["latents", "labels"] if condition_of(model) is not None else ["latents"]


# ---------------------------------------------------------------------------------------------
# Writers: each writes its model file into `folder` and checks it.


def generator_metadata(model: TrainedGenerator) -> dict[str, str]:
    """The safetensors metadata of a generator-only file: a dcgan checkpoint header (format, counters,
    config) whose extra says it holds no discriminator and no optimiser state."""
    meta = read_checkpoint(model.path, prefixes=()).meta
    header = {k: v for k, v in meta.items() if k not in ("optG", "optD")}  # what a sampler may need (a condition)
    extra = {k: v for k, v in meta["extra"].items() if k not in TRAINING_ONLY}
    extra.update({"channels": model.channels, GENERATOR_ONLY: True, "exported_from": checkpoint_label(model.path)})
    header.update({"format": FORMAT, "step": model.step, "extra": extra})
    return {"dcgan": json.dumps(header), "config": model.config.to_json()}


def generator_tensors(generator: nn.Module) -> dict[str, torch.Tensor]:
    """G's state dict under the `G.` prefix, on the CPU, contiguous (what load_generator reads)."""
    return {f"G.{k}": v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}


def write_safetensors(model: TrainedGenerator, path: Path) -> None:
    """The generator-only file, checked: read back by load_generator it gives bit-identical images."""
    from safetensors.torch import save

    atomic_write(path, save(generator_tensors(model.generator), metadata=generator_metadata(model)))
    back = load_generator(path)
    if not torch.equal(back.sample(8, seed=0), model.sample(8, seed=0)):
        raise DcganError(f"{path}: the exported weights do not reproduce the generator's images; nothing was exported")


def write_hf_config(model: TrainedGenerator, folder: Path) -> None:
    """config.json: the arguments `dcgan.hub.DcganGenerator` is built from, plus what the folder is."""
    from . import __version__

    config = {
        "train_config": model.config.to_dict(),
        "channels": model.channels,
        "step": model.step,
        "condition": condition.to_meta() if (condition := condition_of(model)) is not None else None,
        "library_name": "dcgan",
        "model_type": "dcgan-generator",
        "dcgan_version": __version__,
    }
    atomic_write(folder / HF_CONFIG, json.dumps(config, indent=2, sort_keys=True) + "\n")


def max_difference(model: TrainedGenerator, run: Any) -> float:
    """The largest abs difference between PyTorch and `run(inputs) -> numpy images` over CHECK_BATCHES."""
    reference = InferenceGenerator(model.generator, condition_of(model) is not None)
    worst = 0.0
    with torch.no_grad():
        for batch in CHECK_BATCHES:
            inputs = example_inputs(model, batch, seed=batch)
            expected = reference(*inputs).numpy()
            got = run(inputs)
            if got.shape != expected.shape:
                return float("inf")
            worst = max(worst, float(abs(got - expected).max()))
    return worst


def check_close(fmt: str, worst: float) -> None:
    if not worst <= TOLERANCE:
        raise DcganError(
            f"--format {fmt}: the exported model differs from PyTorch by {worst:.3g} (over {TOLERANCE:g}) on a batch "
            "of latents; nothing was exported"
        )


def write_onnx(model: TrainedGenerator, path: Path) -> None:
    """ONNX (opset ONNX_OPSET, dynamic batch axis), checked with onnxruntime against PyTorch."""
    import onnx
    import onnxruntime

    module = InferenceGenerator(model.generator, condition_of(model) is not None)
    names = input_names(model)
    axes = {name: {0: "batch"} for name in [*names, "images"]}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's notes on the legacy path and on tracing
        torch.onnx.export(
            module,
            example_inputs(model, 2),
            str(path),
            input_names=names,
            output_names=["images"],
            dynamic_axes=axes,
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    onnx.checker.check_model(str(path))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    check_close(
        "onnx", max_difference(model, lambda xs: session.run(None, {n: x.numpy() for n, x in zip(names, xs)})[0])
    )


def write_torchscript(model: TrainedGenerator, path: Path) -> None:
    """TorchScript by tracing (the same graph for dcgan, dcgan-fc and mlp: no data-dependent control flow),
    checked against PyTorch at two batch sizes after loading it back."""
    module = InferenceGenerator(model.generator, condition_of(model) is not None)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, example_inputs(model, 2), check_trace=False)
        atomic_write(path, lambda f: torch.jit.save(traced, f))
        loaded = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        check_close("torchscript", max_difference(model, lambda xs: loaded(*xs).numpy()))


# ---------------------------------------------------------------------------------------------
# The folder: refuse, write under a temp name, card, check, rename.


def check_out(out: Path, force: bool, model_path: Path | None = None) -> None:
    """--out must be new or empty (or, with --force, a folder to replace), never a file or the run itself."""
    if out.exists() and not out.is_dir():
        raise DcganError(f"--out {out}: this is a file; give a folder to export into (a new one)")
    if model_path is not None and model_path.resolve().is_relative_to(out.resolve()):
        raise DcganError(f"--out {out}: it holds the model being exported; choose another --out")
    try:
        not_empty = out.is_dir() and any(out.iterdir())
    except OSError as e:
        raise DcganError(f"--out {out}: cannot read this folder ({e.strerror or e}); choose another --out") from None
    if not_empty and not force:
        raise DcganError(f"--out {out}: this folder is not empty; choose a new --out or pass --force to replace it")


def how_to_load(fmt: str, model: TrainedGenerator) -> str:
    """A few lines that load the export and make 16 images."""
    z_dim, condition = model.config.z_dim, condition_of(model)
    if condition is None:
        ort_labels = torch_labels = ""
    elif condition.kind == "class":
        ort_labels, torch_labels = (
            ', "labels": np.arange(16) % ' + str(condition.size),
            f", torch.arange(16) % {condition.size}",
        )
    else:  # attribute vectors in {-1, 1}
        ort_labels = f', "labels": np.ones((16, {condition.size}), "float32")'
        torch_labels = f", torch.ones(16, {condition.size})"
    return {
        "hf": "from dcgan import load_generator\nG = load_generator('THIS_FOLDER')  # or: from dcgan.hub import "
        "DcganGenerator; DcganGenerator.from_pretrained('THIS_FOLDER')\nimages = G.sample(16, seed=0)  # uint8",
        "safetensors": "from dcgan import load_generator\nG = load_generator('THIS_FOLDER/generator.safetensors')\n"
        "images = G.sample(16, seed=0)  # uint8 (16, C, H, W)",
        "onnx": "import numpy as np, onnxruntime as ort\nsession = ort.InferenceSession('generator.onnx')\n"
        f'images = session.run(None, {{"latents": np.random.randn(16, {z_dim}).astype("float32"){ort_labels}}})[0]'
        "  # (16, C, H, W) in [-1, 1]",
        "torchscript": f"import torch\nG = torch.jit.load('generator.pt')\nimages = G(torch.randn(16, {z_dim})"
        f"{torch_labels})  # (16, C, H, W) in [-1, 1]",
    }[fmt]


def export_card(model: TrainedGenerator, run_dir: Path | None, fmt: str) -> dict[str, Any]:
    """The model card of the run, plus the format, its files, its inputs and how to load it."""
    card = model_card(model, run_dir)
    card.update({"format": fmt, "files": [FILES[fmt], README, CARD_JSON] + ([HF_CONFIG] if fmt == "hf" else [])})
    card.update({"how_to_load": how_to_load(fmt, model), "torch_version": card.get("torch_version", torch.__version__)})
    card["inputs"] = input_names(model)
    return card


def write_card(folder: Path, card: dict[str, Any]) -> None:
    atomic_write(folder / CARD_JSON, json.dumps(card, indent=2, default=str) + "\n")
    atomic_write(folder / README, card_markdown(card))


WRITERS = {"hf": write_safetensors, "safetensors": write_safetensors, "onnx": write_onnx}
WRITERS["torchscript"] = write_torchscript


def export_generator(
    run: str | Path, fmt: str = DEFAULT_FORMAT, out: str | Path = "export", force: bool = False
) -> Path:
    """Export the generator of `run` (a run directory, a checkpoint or an exported folder) as `fmt` into the
    folder `out`; returns `out`. Refuses a non-empty `out` unless `force` (then it is replaced only once the
    new export is complete and checked)."""
    if fmt not in FORMATS:
        raise DcganError(f"--format: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    require(fmt)
    out = Path(out)
    check_out(out, force)
    model = load_generator(run, "cpu")
    check_out(out, force, model.path)
    run_dir = Path(run) if Path(run).is_dir() and (Path(run) / "metrics.jsonl").is_file() else None
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        WRITERS[fmt](model, tmp / FILES[fmt])
        if fmt == "hf":
            write_hf_config(model, tmp)
        write_card(tmp, export_card(model, run_dir, fmt))
        publish(tmp, out)
    except OSError as e:
        raise DcganError(f"--out {out}: cannot write the export ({e.strerror or e}); nothing was exported") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def publish(tmp: Path, out: Path) -> None:
    """Rename the finished folder into place; an existing --out (with --force) is removed only after."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError:
        if old.exists():
            os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
