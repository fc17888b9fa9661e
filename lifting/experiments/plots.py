"""Shared pieces of the paper plots: reading results/ (summary.json, run folders), writing PNG + PDF
and the JSON of exactly what was drawn. Plots read nothing but results/; bad or missing files are
one-line errors.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np

from lifting.cli import ArgumentParser, run_cli
from lifting.errors import UserError
from lifting.fileio import check_output_dir, read_json, read_npz, write_json
from lifting.viz import save_figure

SUP_COLOR = "tab:blue"
OURS_COLOR = "darkorange"

__all__ = ["ArgumentParser", "UserError", "cli", "parser", "parse", "load_summary", "done_rows", "row", "metric_cm",
           "save", "load_npz", "seed_dir", "SUP_COLOR", "OURS_COLOR"]


def parser(description: str, prog: str) -> ArgumentParser:
    p = ArgumentParser(prog=prog, description=description)
    p.add_argument("--results-dir", default="results", help="the paper_exps results folder (default results)")
    p.add_argument("--out-dir", help="where figures go (default <results-dir>/figures)")
    return p


def out_dir(args) -> Path:
    return Path(args.out_dir) if args.out_dir else Path(args.results_dir) / "figures"


def parse(p: ArgumentParser, argv: list[str] | None):
    """The parsed arguments, with the figures folder checked before anything is read or drawn."""
    args = p.parse_args(argv)
    check_output_dir(out_dir(args), "--out-dir")
    return args


def load_summary(results_dir: str | Path, experiment: str) -> dict[str, Any]:
    """results/<experiment>/summary.json, checked for the keys the plots use. 'rows' is {name: row} or a list of
    rows that carry their 'name' (the multi-person summary); either way it comes back as {name: row}."""
    path = Path(results_dir) / experiment / "summary.json"
    data = read_json(path, "experiment summary", f"run `python paper_exps/{experiment}.py` first")
    if isinstance(data, dict) and isinstance(data.get("rows"), list):
        if not all(isinstance(r, dict) and isinstance(r.get("name"), str) for r in data["rows"]):
            raise UserError(f"{path}: every entry of 'rows' must be an object with a 'name'")
        data["rows"] = {r["name"]: r for r in data["rows"]}
    if not isinstance(data, dict) or not isinstance(data.get("rows"), dict) or not isinstance(data.get("order"), list):
        raise UserError(f"{path}: expected an object with 'rows' and 'order' (a paper_exps summary)")
    for name, r in data["rows"].items():
        if not isinstance(r, dict):
            raise UserError(f"{path}: row {name!r} is {type(r).__name__}, expected an object of results")
    if not all(isinstance(n, str) for n in data["order"]):
        raise UserError(f"{path}: 'order' must be a list of row names")
    data["_path"] = str(path)
    return data


def done_rows(summary: dict[str, Any], names=None) -> list[str]:
    """Names of finished rows in table order (optionally only those in `names`)."""
    return [n for n in summary["order"] if summary["rows"].get(n, {}).get("status") == "done"
            and (names is None or n in names)]


def row(summary: dict[str, Any], name: str, *keys: str) -> dict[str, Any]:
    """A finished row that must have `keys`; a one-line error names the row and what is missing."""
    r = summary["rows"].get(name)
    if r is None or r.get("status") != "done":
        why = "not in the summary" if r is None else f"{r.get('status')}: {r.get('reason', '')}"
        raise UserError(f"{summary['_path']}: row {name!r} has no results ({why})")
    missing = [k for k in keys if k not in r]
    if missing:
        raise UserError(f"{summary['_path']}: row {name!r} lacks {', '.join(missing)}")
    return r


def metric_cm(r: dict[str, Any], metric: str = "pa_mpjpe") -> tuple[float, float]:
    """(mean, std over seeds) of a mm metric, in cm."""
    try:
        return float(r[metric]) / 10.0, float(r.get(f"{metric}_std", 0.0)) / 10.0
    except (KeyError, TypeError, ValueError):
        raise UserError(f"row {r.get('label', '?')!r}: no numeric {metric!r}") from None


def seed_dir(results_dir: str | Path, experiment: str, name: str, r: dict[str, Any]) -> Path:
    runs = r.get("run_dirs") or ["seed_0"]
    return Path(results_dir) / experiment / name / str(runs[0])


def load_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    return read_npz(path, "predictions", keys, "the run must save predictions; rerun its paper_exps script")


def save(fig, args, name: str, plotted: dict[str, Any]) -> list[Path]:
    """<out>/<name>.png and .pdf, plus <out>/<name>.json with the plotted series."""
    import matplotlib.pyplot as plt

    out = out_dir(args)
    paths = save_figure(fig, out / name)
    plt.close(fig)
    paths.append(write_json(out / f"{name}.json", plotted))
    logging.getLogger("lifting").info("wrote %s", ", ".join(str(p) for p in paths))
    return paths


def cli(plot, argv: list[str] | None) -> int:
    """run_cli for plot scripts: a results file with missing or mistyped fields is a one-line error too."""

    def guarded(argv: list[str] | None) -> int:
        try:
            return plot(argv)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            text = " ".join(str(e).split())[:120]
            what = f"missing field {e.args[0]!r}" if isinstance(e, KeyError) else f"{e.__class__.__name__}: {text}"
            raise UserError(f"malformed results file ({what}); rerun the paper_exps script that wrote it") from None

    return run_cli(guarded, argv)
