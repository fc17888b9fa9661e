"""Shared runner of the paper experiments: one script per table/figure declares its rows; this module
trains/evaluates every row (x seeds), skips finished runs, resumes interrupted ones, and writes

    <results>/<experiment>/<row>/seed_<k>/      one run directory per seed (checkpoints, results.json, log)
    <results>/<experiment>/<row>/results.json   the row: mean and std over seeds of every metric
    <results>/<experiment>/summary.json         all rows, in table order, with their plot parameters

A row's config = entry-point schema defaults <- opts/paper_base/<base>.yaml (the paper's Sup / Ours
settings) <- opts/<experiment>/<row>.yaml (what this row changes) <- the row's run-time settings (files an
earlier stage of the experiment wrote) <- command-line options.
Plots read only these files.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from lifting.config import ArgumentParser, load_config, read_yaml
from lifting.errors import UserError, run_cli, setup_logging
from lifting.fileio import check_output_dir, write_json, write_text

REPO = Path(__file__).resolve().parents[2]
OPTS = REPO / "opts"
log = logging.getLogger("lifting")
HEADLINE = {"human36": ("pa_mpjpe", "mm"), "lsp": ("pair_accuracy", "fraction")}
RUNNER_KEYS = {"out_dir": "use --results-dir", "load": "rows load the row they build on", "seed": "use --seeds"}
TRAINED_IN = "trained_in.txt"  # in a run folder whose training was a finished twin's (`adopt_training`)
# Keys that only say where and how much a run writes: two runs equal in every other key train the same weights.
OUTPUT_KEYS = frozenset({"out_dir", "progress", "tensorboard", "log_every", "checkpoint_every", "figure",
                         "save_predictions"})


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


def _subjects(text: str) -> list[int]:
    try:
        return [int(s.strip().lstrip("Ss")) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated subject numbers like 1,5,6,7, got {text!r}") from None


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def parser(experiment: Experiment) -> ArgumentParser:
    """The options every paper experiment takes (an experiment may add its own before parsing)."""
    p = ArgumentParser(prog=f"paper_exps/{experiment.name}.py", description=experiment.title)
    p.add_argument("--data-dir", help="Human3.6M h5-annotation folder, or 'synthetic' (default: the schema's)")
    p.add_argument("--test-data-dir", help="folder of the test subjects if different from --data-dir")
    p.add_argument("--train-subjects", type=_subjects, help="e.g. 1,5,6,7 (default 1,5,6,7,8)")
    p.add_argument("--test-subjects", type=_subjects, help="e.g. 8 (default 9,11)")
    p.add_argument("--detections-dir", help="stacked-hourglass detections (rows with SH inputs need it)")
    p.add_argument("--lsp-json", help="relative_depth_lsp_v1.json (LSP rows need it)")
    p.add_argument("--epochs", type=positive_int, help="training epochs of every training row (default: the paper's)")
    p.add_argument("--seeds", type=positive_int, default=1, help="seeds per row; rows report mean and std")
    p.add_argument("--jobs", type=positive_int, default=1, help="rows trained in parallel processes")
    p.add_argument("--quick", action="store_true", help="tiny data, 1 epoch, small network: a smoke test")
    p.add_argument("--results-dir", default="results", help="where results/<experiment>/ goes (default results)")
    p.add_argument("--cache-dir", help="processed-data cache (default: the schema's)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="compute device of every run")
    p.add_argument("--rows", help=f"comma-separated subset of rows: {', '.join(r.name for r in experiment.rows)}")
    p.add_argument("--stack", choices=("auto", "yes", "no"), default="auto",
                   help="train runs that share data and schedule as one computation (auto: on a GPU; on a CPU "
                        "parallel lone runs, --jobs N, are faster)")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="extra config override for every row")
    return p


def parse_args(experiment: Experiment, argv=None, p: ArgumentParser | None = None) -> argparse.Namespace:
    """Parse and check the options (`p`: the experiment's own parser from `parser`, if it adds options)."""
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
    return args


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
    if args.jobs > 1:
        cli["threads"] = max(1, (os.cpu_count() or 1) // args.jobs)
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


def run_one(entry: str, cfg: dict[str, Any], resume: bool, log_path: str) -> dict[str, Any]:
    """Train/evaluate one run in this process; its output goes to `log_path`. Never raises."""
    def one():
        from lifting.tasks import run_task

        return [{"results": run_task("lsp" if entry == "lsp" else "lifting", cfg, resume=resume)}]

    return _logged(log_path, one, 1)[0]


def run_stacked_group(cfgs: list[dict[str, Any]], group_dir: str, resume: bool, log_path: str) -> list[dict]:
    """Train lifter runs as one stacked computation (`lifting.tasks.run_stacked`); one result per run. Never
    raises."""
    def group():
        from lifting.tasks import run_stacked

        return run_stacked(cfgs, group_dir, resume)

    return _logged(log_path, group, len(cfgs))


def _logged(log_path: str, fn, count: int) -> list[dict[str, Any]]:
    """fn() with its output in `log_path`; an error becomes every run's {"error": ...} (a crash of one call must
    not lose the others; the log has the traceback)."""
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as out, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(out):
        try:
            setup_logging()
            return fn()
        except UserError as e:
            log.error(f"error: {e}")
            return [{"error": str(e)}] * count
        except Exception as e:
            traceback.print_exc()
            return [{"error": f"{e.__class__.__name__}: {e} (traceback in {log_path})"}] * count


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


def _fmt(row: Row, res: dict[str, Any]) -> str:
    metric, _ = HEADLINE[row.entry]
    if metric == "pair_accuracy":
        return f"depth-order accuracy {100 * res[metric]:.1f} % (+- {100 * res[metric + '_std']:.1f})"
    return (f"PA-MPJPE {res['pa_mpjpe']:.1f} mm (+- {res['pa_mpjpe_std']:.1f}), MPJPE {res['mpjpe']:.1f}, "
            f"N-MPJPE {res['n_mpjpe']:.1f}")


def run_experiment(experiment: Experiment, args: argparse.Namespace) -> dict[str, Any]:
    """Run every selected row (all seeds), write the row results and summary.json; returns the summary."""
    out_root = check_output_dir(Path(args.results_dir) / experiment.name, "--results-dir")
    rows = [r for r in experiment.rows if not args.rows or r.name in args.rows]
    by_name = {r.name: r for r in experiment.rows}
    for r in rows:  # rows this row loads from must run too
        if r.load_from and r.load_from not in [x.name for x in rows]:
            rows.insert(0, by_name[r.load_from])
    status: dict[str, dict[str, Any]] = {}
    pending = list(rows)
    pool = ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) if args.jobs > 1 else None
    try:
        while pending:
            stage = [r for r in pending if not r.load_from or r.load_from in status]
            pending = [r for r in pending if r not in stage]
            jobs = []
            for row in stage:
                status[row.name] = {"status": "done"}
                if row.load_from and status[row.load_from]["status"] != "done":
                    status[row.name] = {"status": "skipped", "reason": f"row {row.load_from} did not finish"}
                    continue
                for seed in range(args.seeds):
                    cfg = row_config(experiment, row, args, seed)
                    run_dir = Path(cfg["out_dir"])
                    if row.entry == "human36":
                        check_output_dir(cfg["cache_dir"], "cache_dir")
                    reason = missing_input(row, cfg)
                    if reason:
                        status[row.name] = {"status": "skipped", "reason": reason}
                        log.info(f"[{experiment.name}] {row.name}: skipped: {reason}")
                        break
                    jobs.append((row, seed, run_dir, cfg))
            results = _execute(experiment, jobs, pool, _stacks(args), args.jobs, Path(args.results_dir))
            for row in stage:
                if status[row.name]["status"] != "done":
                    continue
                mine = [(seed, d, res) for (r, seed, d, _), res in zip(jobs, results) if r is row]
                errors = [res["error"] for _, _, res in mine if "error" in res]
                if errors:
                    status[row.name] = {"status": "failed", "reason": errors[0]}
                    continue
                agg = aggregate(row, [res["results"] for _, _, res in mine], [d.name for _, d, _ in mine])
                twins = {d.name: (d / TRAINED_IN).read_text(encoding="utf-8").strip() for _, d, _ in mine
                         if (d / TRAINED_IN).is_file()}
                if twins:
                    agg["trained_in"] = twins
                agg["config"] = mine[0][2]["results"]["config"]
                status[row.name].update(agg)
                write_json(out_root / row.name / "results.json",
                           {"experiment": experiment.name, "row": row.name, "label": row.label,
                            "params": row.params, **agg})
                log.info(f"[{experiment.name}] {row.name} ({row.label}): {_fmt(row, agg)}")
    finally:
        if pool is not None:
            pool.shutdown()
    for r in experiment.rows:  # rows finished by earlier invocations (e.g. with another --rows subset)
        earlier = out_root / r.name / "results.json"
        if r.name not in status and earlier.is_file():
            try:
                stored = json.loads(earlier.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                continue
            status[r.name] = {"status": "done", **{k: v for k, v in stored.items()
                                                   if k not in ("experiment", "row", "label", "params")}}
    summary = {"experiment": experiment.name, "title": experiment.title, "seeds": args.seeds,
               "quick": bool(args.quick), "order": [r.name for r in experiment.rows if r.name in status],
               "rows": {r.name: {"label": r.label, "entry": r.entry, "headline_metric": HEADLINE[r.entry][0],
                                 "units": HEADLINE[r.entry][1], "params": r.params, **status[r.name]}
                        for r in experiment.rows if r.name in status}}
    write_json(out_root / "summary.json", summary)
    return summary


def training_signature(cfg: dict[str, Any]) -> dict[str, Any]:
    """What decides a run's trained weights: its config without `OUTPUT_KEYS` (the seed included)."""
    return {k: v for k, v in cfg.items() if k not in OUTPUT_KEYS}


def finished_twin(cfg: dict[str, Any], results_root: Path) -> Path | None:
    """A finished run under `results_root` (any experiment, row and seed folder) that trained with this run's
    training signature, so the same weights (the run that trained them, if it was found through a copy): the
    experiments share their Sup / Ours base rows, and one training serves all of them."""
    want = training_signature(cfg)
    for done in sorted(results_root.glob("*/*/seed_*/results.json")):
        if done.parent.resolve() == Path(cfg["out_dir"]).resolve() or not (done.parent / "last.pt").is_file():
            continue
        try:
            stored = read_yaml(done.parent / "config.yaml")
        except UserError:
            continue
        if training_signature(stored) == want:
            note = done.parent / TRAINED_IN   # a copy names the run that trained
            original = Path(note.read_text(encoding="utf-8").strip()) if note.is_file() else None
            return original if original and (original / "last.pt").is_file() else done.parent
    return None


def adopt_training(twin: Path, run_dir: Path) -> None:
    """Copy a twin's checkpoints into `run_dir` (each through a temporary name), which then resumes from them:
    training is complete, so it only evaluates and writes this row's outputs. `TRAINED_IN` names the twin."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in ("best.pt", "last.pt"):
        if (twin / name).is_file():
            tmp = run_dir / f".{name}.tmp"
            shutil.copyfile(twin / name, tmp)
            os.replace(tmp, run_dir / name)
    write_text(run_dir / TRAINED_IN, f"{twin}\n")


def _execute(experiment: Experiment, jobs: list, pool, stack: bool, parts: int,
             results_root: Path) -> list[dict[str, Any]]:
    """Run (row, seed, run_dir, cfg) jobs, skipping finished runs, resuming interrupted ones and reusing a finished
    twin's training (`finished_twin` under `results_root`); with `stack`, runs that can share their steps
    (`stacked_lifting.stack_key`) train as stacked groups, split into `parts` groups for parallel workers."""
    calls, results = [], [None] * len(jobs)
    for i, (row, seed, run_dir, cfg) in enumerate(jobs):
        done = run_dir / "results.json"
        if done.is_file():
            try:
                results[i] = {"results": json.loads(done.read_text(encoding="utf-8"))}
                log.info(f"[{experiment.name}] {row.name} seed {seed}: already finished ({done})")
                continue
            except json.JSONDecodeError:
                pass  # unreadable results: run again
        resume = (run_dir / "last.pt").is_file() and not cfg.get("eval_only")
        if not resume and not cfg.get("eval_only"):
            twin = finished_twin(cfg, results_root)
            if twin is not None:
                adopt_training(twin, run_dir)
                resume = True
                log.info(f"[{experiment.name}] {row.name} seed {seed}: same config and seed as the finished run "
                         f"{twin}: its checkpoints copied, evaluated here instead of training again")
        calls.append((i, row, seed, run_dir, cfg, resume))
    work = []  # (function, indices into jobs, arguments)
    for group in _stack_groups(calls, parts) if stack else [[c] for c in calls]:
        if len(group) == 1:
            i, row, seed, run_dir, cfg, resume = group[0]
            verb = "evaluating" if cfg.get("eval_only") else "resuming" if resume else "training"
            log.info(f"[{experiment.name}] {row.name} seed {seed}: {verb} in {run_dir} (log {run_dir / 'train.log'})")
            work.append((run_one, [i], (row.entry, cfg, resume, str(run_dir / "train.log"))))
            continue
        dirs = [str(c[3]) for c in group]
        group_dir = group[0][3].parents[1] / "stacked" / hashlib.sha1("\n".join(dirs).encode()).hexdigest()[:12]
        resume = (group_dir / "last.pt").is_file()
        log.info(f"[{experiment.name}] {', '.join(f'{c[1].name} seed {c[2]}' for c in group)}: "
                 f"{'resuming' if resume else 'training'} stacked in {group_dir} (log {group_dir / 'train.log'})")
        work.append((run_stacked_group, [c[0] for c in group],
                     ([c[4] for c in group], str(group_dir), resume, str(group_dir / "train.log"))))
    t0 = time.perf_counter()
    if pool is None:
        done = [(idx, fn(*args)) for fn, idx, args in work]
    else:
        futures = [(idx, pool.submit(fn, *args)) for fn, idx, args in work]
        done = [(idx, fut.result()) for idx, fut in futures]
    for idx, out in done:
        for i, res in zip(idx, out if isinstance(out, list) else [out]):
            results[i] = res
    if calls:
        log.info(f"[{experiment.name}] {len(calls)} run(s) in {time.perf_counter() - t0:.0f} s")
    return results


def _stacks(args: argparse.Namespace) -> bool:
    """--stack auto: stack on a GPU, where a step's fixed cost is kernel launches; on a CPU the batched multiply is
    no faster than separate ones and parallel lone runs win (bench/paper_speed.py)."""
    if args.stack != "auto":
        return args.stack == "yes"
    if args.device == "cpu":
        return False
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
        _, row, _, _, cfg, resume = call
        key = None if row.entry != "human36" or resume else stack_key(cfg)
        if key is None:
            alone.append([call])
        else:
            by_key.setdefault(key, []).append(call)
    groups = []
    for members in by_key.values():
        n = min(parts, len(members) // 2) or 1
        groups += [members[j::n] for j in range(n)]
    return groups + alone


def main(experiment: Experiment) -> None:
    """Entry point of every paper_exps script: exit 0 when every runnable row finished, 1 if any failed."""

    def _main() -> int:
        args = parse_args(experiment)
        summary = run_experiment(experiment, args)
        failed = {n: r["reason"] for n, r in summary["rows"].items() if r["status"] == "failed"}
        for name, reason in failed.items():
            log.error(f"[{experiment.name}] {name}: FAILED: {reason}")
        log.info(f"[{experiment.name}] summary: {Path(args.results_dir) / experiment.name / 'summary.json'}")
        return 1 if failed else 0

    run_cli(_main)
