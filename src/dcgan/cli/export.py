"""`dcgan export`: the generator of a run as a Hugging Face-style folder, safetensors, ONNX or TorchScript."""

from __future__ import annotations

import click

FORMATS = ("hf", "safetensors", "onnx", "torchscript")  # dcgan.export.FORMATS (a test keeps them equal)


@click.command()
@click.argument("run", type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="hf",
    show_default=True,
    help="hf: config.json + model.safetensors + README.md model card (load_generator and "
    "huggingface_hub read it); safetensors: generator weights + config as metadata; onnx: checked with "
    "onnxruntime (needs pip install 'dcgan[export]'); torchscript: traced.",
)
@click.option("--out", type=click.Path(), required=True, help="Folder to create (must be new or empty).")
@click.option("--force", is_flag=True, help="Replace a non-empty --out (only once the new export is complete).")
def export(run: str, fmt: str, out: str, force: bool) -> None:
    """Export the generator of RUN (a run directory, a checkpoint file or an exported folder) into --out:
    the generator alone (G_ema when kept), batch size dynamic, with its model card. Nothing is uploaded."""
    if not out.strip():
        raise click.BadParameter("give a folder for the export", param_hint="--out")
    from ..export import FILES, export_generator

    folder = export_generator(run, fmt, out, force=force)
    click.echo(f"exported {fmt}: {folder / FILES[fmt]} (with README.md, the model card)")
