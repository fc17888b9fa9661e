"""What a paper experiment is: its rows (table rows / figure points) and the resolved config of each run.

A row's config = entry-point schema defaults <- opts/paper_base/<base>.yaml (the paper's Sup / Ours settings) <-
opts/<experiment>/<row>.yaml (what this row changes) <- the row's run-time settings (files an earlier stage of the
experiment wrote) <- command-line options.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lifting.config import load_config, read_yaml

REPO = Path(__file__).resolve().parents[2]
OPTS = REPO / "opts"
HEADLINE = {"human36": ("pa_mpjpe", "mm"), "lsp": ("pair_accuracy", "fraction")}


@dataclass(frozen=True)
class Row:
    """One table row / figure point. `base`: 'sup' or 'ours' (H36M) or 'lsp'; `load_from`: row whose run
    (same seed) initialises this one; `params`: what the plot needs to place the point (series, x value...);
    `config`: settings known only at run time (e.g. a predictions file an earlier stage wrote)."""

    name: str
    label: str
    base: str
    load_from: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def entry(self) -> str:
        return "lsp" if self.base == "lsp" else "human36"

    @property
    def task(self) -> str:
        """The `lifting.tasks` task that trains this row's runs."""
        return "lsp" if self.entry == "lsp" else "lifting"


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    rows: tuple[Row, ...]


def schema(entry: str) -> dict:
    if entry == "lsp":
        from lifting.options.lsp import SCHEMA
    else:
        from lifting.options.h36m import SCHEMA
    return SCHEMA


def _quick_overrides(entry: str, merged: dict[str, Any], data_dir: str) -> dict[str, Any]:
    """Tiny settings that keep the row's meaning (noise, pairs, losses) but train in about a second
    (one thread: tiny matrices gain nothing from more, and idle threads spin on a busy machine)."""
    if entry == "lsp":
        out = {"tensorboard": False, "progress": False, "threads": 1}
        if not merged.get("load"):
            out["linear_size"] = 32
        if not merged.get("eval_only"):
            out["epochs"] = 1
        return out
    out = {"epochs": 1, "linear_size": 32, "num_stage": 1, "batch_size": 64, "tensorboard": False,
           "progress": False, "synthetic_size": "tiny", "threads": 1}
    if data_dir != "synthetic":
        out.update(stride=25, test_stride=25)
    # Keep at least a few dozen samples of the smallest fractions.
    out["amt_train_data"] = max(float(merged.get("amt_train_data", 1.0)), 0.02)
    return out


def row_config(experiment: Experiment, row: Row, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """The resolved config of one run of `row`, in its seed folder (validated against its entry point's schema,
    rules included)."""
    sch = schema(row.entry)
    out_root = Path(args.results_dir) / experiment.name
    merged: dict[str, Any] = {}
    base = OPTS / "paper_base" / f"{row.base}.yaml"
    merged.update(read_yaml(base))
    row_file = OPTS / experiment.name / f"{row.name}.yaml"
    merged.update(read_yaml(row_file))
    merged.update(row.config)
    data_dir = (args.data_dir or sch["data_dir"].default) if row.entry == "human36" else ""
    cli: dict[str, Any] = {"seed": seed, "out_dir": str(out_root / row.name / f"seed_{seed}")}
    if row.load_from:  # the final weights of that row's run with the same seed
        cli["load"] = str(out_root / row.load_from / f"seed_{seed}" / "last.pt")
    if row.entry == "human36":
        for key, value in (("data_dir", args.data_dir), ("test_data_dir", args.test_data_dir),
                           ("train_subjects", args.train_subjects), ("test_subjects", args.test_subjects),
                           ("detections_dir", args.detections_dir), ("cache_dir", args.cache_dir)):
            if value is not None:
                cli[key] = value
    elif args.lsp_json:
        cli["rel_depth_json"] = args.lsp_json
    if args.device:
        cli["device"] = args.device
    if args.epochs and not merged.get("eval_only"):
        cli["epochs"] = args.epochs
    if args.quick:
        cli.update(_quick_overrides(row.entry, merged, data_dir))
    if args.launcher == "local" and args.jobs > 1:
        cli["threads"] = max(1, (os.cpu_count() or 1) // args.jobs)
    elif args.launcher != "local" and args.cpus_per_run:   # a Slurm job: the cores it was given
        cli["threads"] = int(args.cpus_per_run)
    sets = [s for s in args.set if s.split("=", 1)[0].strip() in sch]
    return load_config(sch, None, sets, extra={**merged, **cli})


def missing_input(row: Row, cfg: dict[str, Any]) -> str | None:
    """Why this row cannot run with the user's inputs (None if it can)."""
    if row.entry == "lsp":
        if not Path(cfg["rel_depth_json"]).is_file():
            return (f"needs the LSP relative-depth labels {cfg['rel_depth_json']} "
                    "(relative_depth_lsp_v1.json; pass --lsp-json FILE)")
        return None
    uses_sh = "detections" in (cfg["train_noise_type"], cfg["test_noise_type"])
    if uses_sh and not (cfg["detections_dir"] and Path(cfg["detections_dir"]).is_dir()):
        return "needs stacked-hourglass 2D detections (pass --detections-dir DIR)"
    return None
