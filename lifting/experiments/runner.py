"""Shared runner of the paper experiments: one script per table/figure declares its rows; this module runs every
row (x seeds) through the launcher (`--launcher local|slurm`), skips finished runs, resumes interrupted ones, and
writes

    <results>/<experiment>/<row>/seed_<k>/      one run directory per seed (checkpoints, results.json, log)
    <results>/<experiment>/<row>/results.json   the row: mean and std over seeds of every metric
    <results>/<experiment>/summary.json         all rows, in table order, with their plot parameters
    <results>/<experiment>/slurm/               with --launcher slurm: submitit's job scripts and logs

Rows are configured by `experiment.row_config`; runs follow `training.ensure_trained`; numbers are summarised by
`summary`. Plots read only these files.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import time
from pathlib import Path
from typing import Any

from lifting.cli import run_cli
from lifting.engine.launchers import Failure, Job, Launcher, run_jobs
from lifting.experiments.arguments import launcher, parse_args
from lifting.experiments.experiment import Experiment, Row, missing_input, row_config
from lifting.experiments.summary import aggregate, earlier_rows, headline, summary
from lifting.experiments.training import (
    adopt_training,
    finished_results,
    finished_twin,
    resumable,
    run_logged,
    run_stacked_logged,
    trained_in,
    verb,
)
from lifting.fileio import check_output_dir, write_json

log = logging.getLogger("lifting")


def run_experiment(experiment: Experiment, args: argparse.Namespace) -> dict[str, Any]:
    """Run every selected row (all seeds), write the row results and summary.json; returns the summary. A dry run
    (`--dry-run`) writes the Slurm scripts of the jobs it would submit instead, and returns their paths."""
    launch = launcher(experiment.name, args)
    out_root = check_output_dir(Path(args.results_dir) / experiment.name, "--results-dir")
    rows = [r for r in experiment.rows if not args.rows or r.name in args.rows]
    by_name = {r.name: r for r in experiment.rows}
    for r in rows:  # rows this row loads from must run too
        if r.load_from and r.load_from not in [x.name for x in rows]:
            rows.insert(0, by_name[r.load_from])
    status: dict[str, dict[str, Any]] = {}
    scripts: list[Path] = []
    pending = list(rows)
    while pending:
        stage = [r for r in pending if not r.load_from or r.load_from in status]
        pending = [r for r in pending if r not in stage]
        runs = []
        for row in stage:
            status[row.name] = {"status": "done"}
            if row.load_from and status[row.load_from]["status"] != "done":
                status[row.name] = {"status": "skipped", "reason": f"row {row.load_from} did not finish"}
                continue
            for seed in range(args.seeds):
                cfg = row_config(experiment, row, args, seed)
                if row.entry == "human36":
                    check_output_dir(cfg["cache_dir"], "cache_dir")
                reason = missing_input(row, cfg)
                if reason:
                    status[row.name] = {"status": "skipped", "reason": reason}
                    log.info(f"[{experiment.name}] {row.name}: skipped: {reason}")
                    break
                runs.append((row, seed, Path(cfg["out_dir"]), cfg))
        results = _execute(experiment, runs, launch, _stacks(args, launch), args.jobs, Path(args.results_dir))
        if launch.dry_run:   # the later stages' scripts as if these jobs had finished
            scripts += [p for p in results if isinstance(p, Path) and p not in scripts]
            continue
        for row in stage:
            if status[row.name]["status"] == "done":
                _finish_row(experiment, row, [(d, res) for (r, _, d, _), res in zip(runs, results) if r is row],
                            status, out_root)
    if launch.dry_run:
        log.info(f"[{experiment.name}] dry run: {len(scripts)} sbatch script(s) in {launch.folder / 'dry_run'}")
        return {"experiment": experiment.name, "dry_run": [str(p) for p in scripts]}
    earlier_rows(experiment, out_root, status)
    out = summary(experiment, status, args.seeds, bool(args.quick))
    write_json(out_root / "summary.json", out)
    return out


def _finish_row(experiment: Experiment, row: Row, mine: list[tuple[Path, dict[str, Any]]],
                status: dict[str, dict[str, Any]], out_root: Path) -> None:
    """The row's status, and its results.json when every seed finished."""
    errors = [res["error"] for _, res in mine if "error" in res]
    if errors:
        status[row.name] = {"status": "failed", "reason": errors[0]}
        return
    agg = aggregate(row, [res["results"] for _, res in mine], [d.name for d, _ in mine])
    twins = {d.name: trained_in(d) for d, _ in mine if trained_in(d)}
    if twins:
        agg["trained_in"] = twins
    agg["config"] = mine[0][1]["results"]["config"]
    status[row.name].update(agg)
    write_json(out_root / row.name / "results.json",
               {"experiment": experiment.name, "row": row.name, "label": row.label, "params": row.params, **agg})
    log.info(f"[{experiment.name}] {row.name} ({row.label}): {headline(row, agg)}")


def _execute(experiment: Experiment, runs: list, launch: Launcher, stack: bool, parts: int,
             results_root: Path) -> list[Any]:
    """Run (row, seed, run_dir, cfg) runs as the launcher's jobs, skipping finished runs (never submitted again),
    resuming interrupted ones and reusing a finished twin's training (`finished_twin` under `results_root`); with
    `stack`, runs that can share their steps (`stacked_lifting.stack_key`) train as stacked groups, split into
    `parts` groups for parallel workers. One result per run ({"results"} or {"error"}; a dry run: the path of the
    script of the job that would run it)."""
    calls, results = [], [None] * len(runs)
    for i, (row, seed, run_dir, cfg) in enumerate(runs):
        done = finished_results(run_dir)
        if done is not None:
            results[i] = {"results": done}
            log.info(f"[{experiment.name}] {row.name} seed {seed}: already finished ({run_dir / 'results.json'})")
            continue
        if not resumable(cfg) and not cfg.get("eval_only"):
            twin = finished_twin(cfg, results_root)
            if twin is not None:
                log.info(f"[{experiment.name}] {row.name} seed {seed}: same config and seed as the finished run "
                         f"{twin}: its checkpoints copied, evaluated here instead of training again")
                if not launch.dry_run:
                    adopt_training(twin, run_dir)
        calls.append((i, row, seed, run_dir, cfg))
    jobs, indices = [], []
    for group in _stack_groups(calls, parts) if stack else [[c] for c in calls]:
        if len(group) == 1:
            i, row, seed, run_dir, cfg = group[0]
            what = f"{experiment.name} {row.name} seed {seed}: {verb(cfg)} in {run_dir}"
            log.info(f"[{experiment.name}] {row.name} seed {seed}: {verb(cfg)} in {run_dir} "
                     f"(log {run_dir / 'train.log'})")
            jobs.append(Job(f"{experiment.name}.{row.name}.seed_{seed}", run_logged,
                            (row.task, cfg, str(run_dir / "train.log")), what))
        else:
            dirs = [str(c[3]) for c in group]
            key = hashlib.sha1("\n".join(dirs).encode()).hexdigest()[:12]
            group_dir = group[0][3].parents[1] / "stacked" / key
            names = ", ".join(f"{c[1].name} seed {c[2]}" for c in group)
            state = "resuming" if (group_dir / "last.pt").is_file() else "training"
            log.info(f"[{experiment.name}] {names}: {state} stacked in {group_dir} (log {group_dir / 'train.log'})")
            jobs.append(Job(f"{experiment.name}.stacked.{key}", run_stacked_logged,
                            ([c[4] for c in group], str(group_dir), str(group_dir / "train.log")),
                            f"{experiment.name} {names}: {state} stacked in {group_dir}"))
        indices.append([c[0] for c in group])
    t0 = time.perf_counter()
    for idx, out in zip(indices, run_jobs(jobs, launch) if jobs else []):
        if isinstance(out, Failure):
            out = {"error": out.reason}
        for i, res in zip(idx, out if isinstance(out, list) else [out] * len(idx)):
            results[i] = res
    if calls and not launch.dry_run:
        log.info(f"[{experiment.name}] {len(calls)} run(s) in {time.perf_counter() - t0:.0f} s")
    return results


def _stacks(args: argparse.Namespace, launch: Launcher) -> bool:
    """--stack auto: stack on a GPU, where a step's fixed cost is kernel launches; on a CPU the batched multiply is
    no faster than separate ones and parallel lone runs win (bench/paper_speed.py). Slurm jobs: GPU jobs stack."""
    if args.stack != "auto":
        return args.stack == "yes"
    if args.device == "cpu":
        return False
    if launch.kind != "local":
        return launch.resources.gpus_per_node > 0
    import torch

    return torch.cuda.is_available()


def _stack_groups(calls: list, parts: int) -> list[list]:
    """Calls that can train stacked, grouped by their shared settings and each group split into at most `parts`
    groups of near-equal size; every other call (LSP rows, evaluations, resumed lone runs, weight max-norm,
    compile) alone."""
    from lifting.tasks.stacked_lifting import stack_key

    by_key: dict[tuple, list] = {}
    alone = []
    for call in calls:
        _, row, _, _, cfg = call
        key = None if row.entry != "human36" or resumable(cfg) else stack_key(cfg)
        if key is None:
            alone.append([call])
        else:
            by_key.setdefault(key, []).append(call)
    groups = []
    for members in by_key.values():
        n = min(parts, len(members) // 2) or 1
        groups += [members[j::n] for j in range(n)]
    return groups + alone


def main(experiment: Experiment, argv: list[str] | None = None) -> int:
    """Entry point of every paper_exps script: exit code 0 when every runnable row finished, 1 if any failed, 2 for
    bad input (one line)."""

    def run(argv: list[str] | None) -> int:
        args = parse_args(experiment, argv)
        out = run_experiment(experiment, args)
        if "dry_run" in out:
            return 0
        failed = {n: r["reason"] for n, r in out["rows"].items() if r["status"] == "failed"}
        for name, reason in failed.items():
            log.error(f"[{experiment.name}] {name}: FAILED: {reason}")
        log.info(f"[{experiment.name}] summary: {Path(args.results_dir) / experiment.name / 'summary.json'}")
        return 1 if failed else 0

    return run_cli(run, argv)
