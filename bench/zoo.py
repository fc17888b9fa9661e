"""Retrain the zoo's models from their configs, measure their cards on Human3.6M S8 and pack them into checkpoint/.

    python bench/zoo.py --data-dir DIR                    # every model: train what has no finished run, then pack
    python bench/zoo.py h36m_lifter --pack-only --data-dir DIR   # pack the finished runs/zoo/h36m_lifter
    python bench/zoo.py rendered_detector --retrain --data-dir DIR --set threads=1

Each model trains with its entry script and config into RUNS_DIR/NAME (a finished run, one with results.json, is
kept unless --retrain). A card's numbers are measured on Human3.6M S8: the shipped model's own where its recipe holds
S8 out; where it trains on S8 too (h36m_lifter: all five subjects), those of the same recipe trained on S1, S5, S6,
S7 into RUNS_DIR/NAME_s1567. The shipped run is packed in float32 and in float16, both are evaluated on S8
(`eval_only`), and `lifting.zoo.pack` keeps float16 where no headline metric moves by `lifting.zoo.TOLERANCE` or
more, writes checkpoint/NAME.pt and records it in checkpoint/manifest.json.
"""

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lifting import zoo
from lifting.cli import ArgumentParser, run_cli
from lifting.config import read_yaml
from lifting.datasets.h36m import available_subjects
from lifting.errors import UserError

ROOT = Path(__file__).resolve().parents[1]

HELD_OUT = ("train_subjects=[1,5,6,7]", "test_subjects=[8]")


@dataclass(frozen=True)
class Recipe:
    """How a zoo model is trained and measured: its entry script and config, the --set overrides of its training run
    and of the S8 evaluation."""

    kind: str
    script: str
    config: str
    trained_on: str
    shipped: tuple[str, ...]
    evaluation: tuple[str, ...]
    label: str | None = None
    trains_on_s8: bool = False  # its card's numbers then come from the same recipe trained with HELD_OUT


LIFTER_EVAL = ("test_subjects=[8]", "test_data_dir=null")
RECIPES = {
    "h36m_lifter": Recipe("lifter", "main_human36.py", "opts/zoo/h36m_lifter.yaml",
                          "Human3.6M S1, S5, S6, S7, S8 (ground-truth 2D)", (), LIFTER_EVAL, trains_on_s8=True),
    "h36m_lifter_detected": Recipe("lifter", "main_human36.py", "opts/zoo/h36m_lifter_detected.yaml",
                                   "Human3.6M S1, S5, S6, S7 (detected 2D)", (), LIFTER_EVAL),
    "h36m_relative": Recipe("lifter", "main_human36.py", "opts/zoo/h36m_relative.yaml",
                            "Human3.6M S1, S5, S6, S7 (one depth-order pair per sample)", (), LIFTER_EVAL),
    "rendered_metrabs": Recipe("estimator", "main_metro.py", "opts/metro_tiny.yaml",
                               "mannequins rendered in poses of Human3.6M S1, S5, S6, S7", HELD_OUT,
                               ("test_subjects=[8]",), zoo.RENDERED_LABEL),
    "rendered_rootnet": Recipe("rootnet", "main_rootnet.py", "opts/rootnet_tiny.yaml",
                               "mannequins rendered in poses of Human3.6M S1, S5, S6, S7", HELD_OUT,
                               ("test_subjects=[8]",), zoo.RENDERED_LABEL),
    "rendered_detector": Recipe("detector", "main_detector.py", "opts/zoo/rendered_detector.yaml",
                                "scenes of mannequins rendered in poses of Human3.6M S1, S5, S6, S7", HELD_OUT,
                                ("test_subjects=[8]",), zoo.RENDERED_LABEL),
}


def command(recipe: Recipe, sets: list[str]) -> list[str]:
    return ["python", recipe.script, "--opt", recipe.config, "--set", *sets]


def shown(path: Path) -> Path:
    """`path` as the recorded commands give it: relative to the repository root where it lies inside."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def run(argv: list[str]) -> None:
    """A script of the suite, run from the repository root; its failure stops the bench in one line."""
    print("$", shlex.join(argv), flush=True)
    if subprocess.run([sys.executable, *argv[1:]], cwd=ROOT).returncode:
        raise UserError(f"failed: {shlex.join(argv)}")


def results(run_dir: Path) -> dict:
    path = run_dir / "results.json"
    if not path.is_file():
        raise UserError(f"{run_dir}: no finished run (no results.json); train it with python bench/zoo.py "
                        f"{run_dir.name}")
    return json.loads(path.read_text())


def train(recipe: Recipe, run_dir: Path, sets: list[str], args: argparse.Namespace) -> str:
    """Train into `run_dir` unless a finished run is there (or --retrain; never with --pack-only, which needs the
    finished run); returns the training command."""
    argv = command(recipe, [*sets, f"out_dir={shown(run_dir)}"])
    if args.pack_only:
        results(run_dir)
    elif args.retrain or not (run_dir / "results.json").is_file():
        run(argv)
    return shlex.join(argv)


def evaluate(recipe: Recipe, run_dir: Path, precision: str, sets: list[str], scratch: Path) -> dict:
    """The results of `run_dir` packed in `precision`, evaluated on S8."""
    packed = zoo.write_packed(run_dir, scratch / f"{run_dir.name}_{precision}.pt", recipe.kind, precision)
    out = scratch / f"{run_dir.name}_{precision}"
    run(command(recipe, [*sets, f"load={packed}", "eval_only=true", *recipe.evaluation, f"out_dir={out}"]))
    return results(out)


def standard_test(recipe: Recipe, data_dir: str) -> tuple[str, ...]:
    """The end-of-training evaluation of a run on all five subjects: the recipe's test subjects (S9, S11) where the
    data has them, else the built-in synthetic ones (the card is measured on the S1, S5, S6, S7 sibling anyway)."""
    wanted = read_yaml(ROOT / recipe.config)["test_subjects"]
    return () if set(wanted) <= set(available_subjects(data_dir)) else ("test_data_dir=synthetic",)


def build(name: str, args: argparse.Namespace) -> None:
    recipe, runs = RECIPES[name], args.runs_dir.resolve()
    data = [f"data_dir={args.data_dir}", *args.set]
    shipped = measured = runs / name
    metrics_on, standard = "Human3.6M S8 (held out)", ()
    if recipe.trains_on_s8:
        measured = runs / f"{name}_s1567"
        train(recipe, measured, [*data[:1], *HELD_OUT, *args.set], args)
        metrics_on = "Human3.6M S8, the same recipe trained on S1, S5, S6, S7"
        standard = standard_test(recipe, args.data_dir)
    retrain = train(recipe, shipped, [*data[:1], *standard, *recipe.shipped, *args.set], args)
    with tempfile.TemporaryDirectory(prefix="zoo_") as tmp:
        evaluations = {p: evaluate(recipe, shipped, p, data, Path(tmp)) for p in ("float32", "float16")}
        precision = zoo.choose_precision(recipe.kind, evaluations)[0]
        card = evaluations[precision] if measured == shipped else evaluate(recipe, measured, precision, data,
                                                                             Path(tmp))
    entry = zoo.pack(shipped, name, kind=recipe.kind, evaluations=evaluations,
                     metrics=zoo.headline(recipe.kind, card), metrics_on=metrics_on,
                     trained_on=recipe.trained_on, config=recipe.config, command=retrain, label=recipe.label)
    print(f"checkpoint/{entry['file']}: {entry['precision']}, {entry['size_bytes'] / 2**20:.1f} MiB, "
          f"float16 change {entry['precision_check']['change']:.4f}; {entry['metrics']}")


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="bench/zoo.py", description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help=f"zoo models to build (default all: {', '.join(RECIPES)})")
    p.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "zoo", help="where the trainings go")
    p.add_argument("--data-dir", required=True, help="Human3.6M poses (h5-annotation layout with S1, S5-S8)")
    p.add_argument("--pack-only", action="store_true", help="pack finished runs; train nothing")
    p.add_argument("--retrain", action="store_true", help="train again even where a finished run exists")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="more overrides for every training "
                   "(e.g. threads=1 device=cuda)")
    return p


def main(argv: list[str] | None = None) -> int:
    def bench(argv: list[str] | None) -> None:
        args = parser().parse_args(argv)
        unknown = [n for n in args.names if n not in RECIPES]
        if unknown:
            raise UserError(f"{', '.join(unknown)}: not a zoo model (known: {', '.join(RECIPES)})")
        for name in args.names or RECIPES:
            build(name, args)
        print(zoo.listing())

    return run_cli(bench, argv)


if __name__ == "__main__":
    sys.exit(main())
