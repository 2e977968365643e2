"""Build the pretrained model shipped in the package (src/dcgan/pretrained_files/NAME/) from a training run.

The one reproducible path:

    dcgan train --preset fashion-best --max-minutes 10 --out runs/pretrained-fashion --seed 0
    python3 benchmarks/make_pretrained.py --run runs/pretrained-fashion

It measures FID with the project's evaluator (`dcgan evaluate RUN --metrics fid --num 10000`: 10,000
generated images against the 10,000 Fashion-MNIST test images, TF-Inception, plus the domain FID), exports
the generator with `dcgan export --format hf`, adds the training command, torch version and measured
metrics to its model card (card.json, README.md) and replaces the packaged folder. `--evaluation FILE`
(repeatable) uses evaluation JSON written earlier by `dcgan evaluate RUN --json FILE` for the same
checkpoint instead: the first is the card's `evaluation`, the others `evaluation_2`, ...; all are saved
together in --json.

`--update-card` leaves the packaged weights alone and only adds measurements to the packaged model's card:
it checks each --evaluation is of that model (same step; evaluate the packaged folder itself, e.g.
`dcgan evaluate src/dcgan/pretrained_files/fashion --metrics fid --num 10000 --json FILE`), puts them first
and keeps the card's earlier evaluations made at other sample counts (--note replaces the card's note).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "dcgan train --preset fashion-best --max-minutes 10 --out runs/pretrained-fashion --seed 0"


def rebuild_command(args: argparse.Namespace) -> str:
    """This script's command for the folder --command writes (not wherever --run happened to be)."""
    words = shlex.split(args.command)
    run = words[words.index("--out") + 1] if "--out" in words[:-1] else args.run
    return f"python3 benchmarks/make_pretrained.py --run {run} --name {args.name} --json {args.json}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/pretrained-fashion", help="the finished training run")
    ap.add_argument("--name", default="fashion", help="the model's name (dcgan.pretrained.PRETRAINED)")
    ap.add_argument("--command", default=COMMAND, help="the exact command that trained --run")
    ap.add_argument("--note", default=None, help="how the run was actually made, when it differs from --command")
    ap.add_argument("--evaluation", action="append", help="a `dcgan evaluate --json` file of this run (repeatable)")
    ap.add_argument("--num", type=int, default=10000, help="images per set for FID (without --evaluation)")
    ap.add_argument("--json", default="benchmarks/results/pretrained_fashion.json", help="the evaluations, as JSON")
    ap.add_argument("--update-card", action="store_true", help="add --evaluation files to the packaged model's card")
    args = ap.parse_args()
    if args.update_card:
        update_card(args)
        return

    import torch

    from dcgan import load_generator
    from dcgan.card import evaluation_metrics
    from dcgan.export import export_generator, write_card
    from dcgan.metrics.evaluate import evaluate_run, write_json

    if args.evaluation:
        evaluations = [json.loads(Path(f).read_text(encoding="utf-8")) for f in args.evaluation]
    else:
        started = time.perf_counter()
        evaluations = [evaluate_run(args.run, metrics="fid", num=args.num, split="test", device="cpu", seed=0)]
        print(f"evaluated in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    model = load_generator(args.run)
    check_evaluations(evaluations, model.step, "the run's checkpoint")
    write_json({"command": args.command, "evaluations": evaluations}, ROOT / args.json)

    with tempfile.TemporaryDirectory(dir=ROOT / "src" / "dcgan" / "pretrained_files") as tmp:
        folder = export_generator(args.run, "hf", Path(tmp) / args.name)
        card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
        for i, evaluation in enumerate(evaluations):
            card["metrics"]["evaluation" + (f"_{i + 1}" if i else "")] = evaluation_metrics(evaluation)
        card.update(
            name=f"dcgan pretrained: {args.name}",
            command=args.command,
            reproduce=f"{args.command}\n{rebuild_command(args)}",
            torch_version=torch.__version__,
            **({"note": args.note} if args.note else {}),
            how_to_load=(
                f'from dcgan import load_pretrained\n\nG = load_pretrained("{args.name}")\nimages = G.sample(16, seed=0)'
                f"  # uint8 (16, C, H, W)\n# or: dcgan generate --pretrained {args.name} --num 16 --grid grid.png"
            ),
        )
        write_card(folder, card)
        target = ROOT / "src" / "dcgan" / "pretrained_files" / args.name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(folder, target)
    for evaluation in evaluations:
        shown = ", ".join(f"{k} {evaluation[k]:.4g}" for k in ("fid", "fid_fashion", "kid") if k in evaluation)
        print(f"{target}: {shown} ({evaluation['num_fake']} generated vs {evaluation['num_real']} test images)")


def check_evaluations(evaluations: list[dict], step: int, what: str) -> None:
    """Each evaluation must be of `step`; checkpoint paths inside the repository become relative."""
    for evaluation in evaluations:
        if evaluation.get("step") != step:
            sys.exit(f"error: an evaluation is of step {evaluation.get('step')}, {what} of {step}")
        if str(evaluation.get("checkpoint", "")).startswith(str(ROOT) + "/"):  # no local absolute paths
            evaluation["checkpoint"] = str(Path(evaluation["checkpoint"]).relative_to(ROOT))


def update_card(args: argparse.Namespace) -> None:
    """--update-card: the packaged model's card with the --evaluation files first, its weights untouched."""
    from dcgan import load_generator
    from dcgan.card import evaluation_metrics
    from dcgan.export import write_card
    from dcgan.metrics.evaluate import write_json

    if not args.evaluation:
        sys.exit("error: --update-card: give the new measurements with --evaluation FILE")
    target = ROOT / "src" / "dcgan" / "pretrained_files" / args.name
    model = load_generator(target)
    card = json.loads((target / "card.json").read_text(encoding="utf-8"))
    new = [json.loads(Path(f).read_text(encoding="utf-8")) for f in args.evaluation]
    check_evaluations(new, model.step, "the packaged model")
    counts = {e.get("num_fake") for e in new}
    old = [v for k, v in card["metrics"].items() if k.startswith("evaluation") and v.get("num_fake") not in counts]
    card["metrics"] = {k: v for k, v in card["metrics"].items() if not k.startswith("evaluation")}
    for i, evaluation in enumerate([evaluation_metrics(e) for e in new] + old):
        card["metrics"]["evaluation" + (f"_{i + 1}" if i else "")] = evaluation
    if args.note:
        card["note"] = args.note
    write_card(target, card)
    recorded = ROOT / args.json  # the earlier evaluations in full, where they were written
    if recorded.is_file():
        old = [
            e
            for e in json.loads(recorded.read_text(encoding="utf-8"))["evaluations"]
            if e.get("num_fake") not in counts
        ]
    write_json({"command": card.get("command"), "evaluations": new + old}, recorded)
    for evaluation in new:
        shown = ", ".join(f"{k} {evaluation[k]:.4g}" for k in ("fid", "fid_fashion", "kid") if k in evaluation)
        print(f"{target}: {shown} ({evaluation['num_fake']} generated vs {evaluation['num_real']} test images)")


if __name__ == "__main__":
    main()
