"""A paper experiment's numbers: each row's mean and std over seeds, and summary.json (all rows, in table order,
with their plot parameters). Plots read only these files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from lifting.experiments.experiment import HEADLINE, Experiment, Row

ROW_ONLY_KEYS = ("experiment", "row", "label", "params")   # in a row's results.json, not repeated in the summary


def _numeric(d: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def aggregate(row: Row, seed_results: list[dict[str, Any]], run_dirs: list[str]) -> dict[str, Any]:
    """Mean and std over seeds of every numeric metric; per-action tables averaged the same way."""
    keys = sorted(set.intersection(*(set(_numeric(r)) for r in seed_results)))
    out: dict[str, Any] = {}
    for k in keys:
        vals = np.array([_numeric(r)[k] for r in seed_results])
        out[k] = float(vals.mean())
        out[f"{k}_std"] = float(vals.std())
    if all("per_action" in r for r in seed_results):
        actions = sorted(set.intersection(*(set(r["per_action"]) for r in seed_results)))
        out["per_action"] = {a: {m: float(np.mean([r["per_action"][a][m] for r in seed_results]))
                                 for m in seed_results[0]["per_action"][a]} for a in actions}
    metric = HEADLINE[row.entry][0]
    out["seed_values"] = {metric: [float(r[metric]) for r in seed_results]}
    out["num_seeds"] = len(seed_results)
    out["run_dirs"] = run_dirs  # seed folders, relative to the row's folder
    out["curve"] = seed_results[0].get("curve", [])
    return out


def headline(row: Row, res: dict[str, Any]) -> str:
    """The row's numbers in one line, for the log."""
    metric, _ = HEADLINE[row.entry]
    if metric == "pair_accuracy":
        return f"depth-order accuracy {100 * res[metric]:.1f} % (+- {100 * res[metric + '_std']:.1f})"
    return (f"PA-MPJPE {res['pa_mpjpe']:.1f} mm (+- {res['pa_mpjpe_std']:.1f}), MPJPE {res['mpjpe']:.1f}, "
            f"N-MPJPE {res['n_mpjpe']:.1f}")


def earlier_rows(experiment: Experiment, out_root: Path, status: dict[str, dict[str, Any]]) -> None:
    """Add to `status` the rows finished by earlier invocations (e.g. with another --rows subset)."""
    for r in experiment.rows:
        earlier = out_root / r.name / "results.json"
        if r.name not in status and earlier.is_file():
            try:
                stored = json.loads(earlier.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                continue
            status[r.name] = {"status": "done", **{k: v for k, v in stored.items() if k not in ROW_ONLY_KEYS}}


def summary(experiment: Experiment, status: dict[str, dict[str, Any]], seeds: int, quick: bool) -> dict[str, Any]:
    """summary.json's content: every row with a status, in table order."""
    return {"experiment": experiment.name, "title": experiment.title, "seeds": seeds, "quick": quick,
            "order": [r.name for r in experiment.rows if r.name in status],
            "rows": {r.name: {"label": r.label, "entry": r.entry, "headline_metric": HEADLINE[r.entry][0],
                              "units": HEADLINE[r.entry][1], "params": r.params, **status[r.name]}
                     for r in experiment.rows if r.name in status}}
