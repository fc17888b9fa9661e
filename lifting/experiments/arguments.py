"""The command line every paper experiment takes (an experiment may add its own options before parsing)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lifting.cli import ArgumentParser, add_option, run_cli
from lifting.config import opt
from lifting.engine.launchers import Launcher, add_launcher_args, launcher_from_args
from lifting.experiments.experiment import Experiment, schema
from lifting.options.common import SUBJECT_LIST

log = logging.getLogger("lifting")
RUNNER_KEYS = {"out_dir": "use --results-dir", "load": "rows load the row they build on", "seed": "use --seeds"}


def add_subjects(p: argparse.ArgumentParser, flag: str, help: str) -> None:
    """A subject-list flag ('1,5,6,7'), checked as the configs' subject lists are."""
    add_option(p, flag, opt(list, None, help, nullable=True, **SUBJECT_LIST), metavar="S,S")


def parser(experiment: Experiment) -> ArgumentParser:
    """The options every paper experiment takes."""
    p = ArgumentParser(prog=f"paper_exps/{experiment.name}.py", description=experiment.title)
    p.add_argument("--data-dir", help="Human3.6M h5-annotation folder, or 'synthetic' (default: the schema's)")
    p.add_argument("--test-data-dir", help="folder of the test subjects if different from --data-dir")
    add_subjects(p, "--train-subjects", "training subjects (default 1,5,6,7,8)")
    add_subjects(p, "--test-subjects", "test subjects (default 9,11)")
    p.add_argument("--detections-dir", help="stacked-hourglass detections (rows with SH inputs need it)")
    p.add_argument("--lsp-json", help="relative_depth_lsp_v1.json (LSP rows need it)")
    add_option(p, "--epochs", opt(int, None, "training epochs of every training row (default: the paper's)",
                                  nullable=True, minimum=1, maximum=10_000))
    add_option(p, "--seeds", opt(int, 1, "seeds per row; rows report mean and std", minimum=1, maximum=1000))
    add_option(p, "--jobs", opt(int, 1, "rows trained in parallel local processes", minimum=1, maximum=1024))
    p.add_argument("--quick", action="store_true", help="tiny data, 1 epoch, small network: a smoke test")
    p.add_argument("--results-dir", default="results", help="where results/<experiment>/ goes (default results)")
    p.add_argument("--cache-dir", help="processed-data cache (default: the schema's)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="compute device of every run")
    p.add_argument("--rows", help=f"comma-separated subset of rows: {', '.join(r.name for r in experiment.rows)}")
    p.add_argument("--stack", choices=("auto", "yes", "no"), default="auto",
                   help="train runs that share data and schedule as one computation (auto: on a GPU; on a CPU "
                        "parallel lone runs, --jobs N, are faster)")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="extra config override for every row")
    add_launcher_args(p)
    return p


def parse_args(experiment: Experiment, argv=None, p: ArgumentParser | None = None) -> argparse.Namespace:
    """Parse and check the options (`p`: the experiment's own parser from `parser`, if it adds options); the
    launcher's are checked here too, so a bad one stops the experiment before anything is written."""
    p = p or parser(experiment)
    args = p.parse_args(argv)
    names = [r.name for r in experiment.rows]
    if args.rows:
        wanted = [s.strip() for s in args.rows.split(",") if s.strip()]
        unknown = [w for w in wanted if w not in names]
        if unknown:
            p.error(f"--rows: unknown row(s) {', '.join(unknown)}; {experiment.name} has {', '.join(names)}")
        args.rows = wanted
    for text in args.set:
        key = text.split("=", 1)[0].strip()
        if "=" not in text or not any(key in schema(e) for e in ("human36", "lsp")):
            p.error(f"--set {text!r}: expected KEY=VALUE with a config key of main_human36.py or main_lsp.py")
        if key in RUNNER_KEYS:
            p.error(f"--set {key}: the runner sets it for every row and seed ({RUNNER_KEYS[key]})")
    launcher(experiment.name, args)
    return args


def launcher(name: str, args: argparse.Namespace) -> Launcher:
    """Where the experiment's runs go (`--launcher`); Slurm's scripts and logs in <results>/<name>/slurm."""
    return launcher_from_args(args, Path(args.results_dir) / name / "slurm", args.jobs)


def experiment_main(name: str, parse: Callable[[list[str] | None], argparse.Namespace],
                    run: Callable[[argparse.Namespace], dict[str, Any]], argv: list[str] | None) -> int:
    """`main(argv)` of an experiment with its own driver: parse, run, say where its summary went (not after a dry
    run, which only writes job scripts); the exit code."""
    def main(argv: list[str] | None) -> int:
        args = parse(argv)
        if "dry_run" not in run(args):
            log.info(f"[{name}] summary: {Path(args.results_dir) / name / 'summary.json'}")
        return 0

    return run_cli(main, argv)
