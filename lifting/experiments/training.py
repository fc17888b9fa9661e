"""Train unless done: the one rule every experiment follows for its runs. A run whose results.json is readable is
finished (never trained or submitted again); one with a last.pt resumes from it; otherwise it trains (or, with
`eval_only`, evaluates). A finished run with the same training settings elsewhere under the results folder (a
twin) lends its checkpoints instead of training again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lifting.config import read_yaml
from lifting.engine.launchers import Failure, Job, Launcher, run_jobs
from lifting.errors import UserError, setup_logging
from lifting.fileio import write_text

log = logging.getLogger("lifting")
TRAINED_IN = "trained_in.txt"  # in a run folder whose training was a finished twin's (`adopt_training`)
# Keys that only say where and how much a run writes: two runs equal in every other key train the same weights.
OUTPUT_KEYS = frozenset({"out_dir", "progress", "tensorboard", "log_every", "checkpoint_every", "figure",
                         "save_predictions"})


def finished_results(run_dir: Path) -> dict[str, Any] | None:
    """The run's results if it finished (an unreadable results.json counts as unfinished: run again)."""
    done = run_dir / "results.json"
    if not done.is_file():
        return None
    try:
        return json.loads(done.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None


def resumable(cfg: dict[str, Any]) -> bool:
    """Whether the run of `cfg` continues from its last.pt (an evaluation-only run never does)."""
    return (Path(cfg["out_dir"]) / "last.pt").is_file() and not cfg.get("eval_only")


def verb(cfg: dict[str, Any]) -> str:
    return "evaluating" if cfg.get("eval_only") else "resuming" if resumable(cfg) else "training"


def ensure_trained(task: str, cfg: dict[str, Any], what: str,
                   launcher: Launcher | None = None) -> dict[str, Any] | None:
    """The results of the run of `cfg` (a `lifting.tasks` task): read if finished, else trained, resumed or
    evaluated here, or as one job of `launcher` (which waits for it; None after a dry run, which writes the job's
    script). `what` names the run in messages."""
    run = Path(cfg["out_dir"])
    results = finished_results(run)
    if results is not None:
        log.info(f"{what}: already trained ({run})")
        return results
    log.info(f"{what}: {verb(cfg)} in {run}")
    if launcher is None or launcher.kind == "local":
        from lifting.tasks import run_task

        return run_task(task, cfg, resume=resumable(cfg))
    job = Job(f"{run.parent.name}.{run.name}", ensure_trained, (task, cfg, what), f"{what}: {task} run {run}")
    out = run_jobs([job], launcher)[0]
    if isinstance(out, Failure):
        raise UserError(f"{what}: {out.reason}")
    return None if isinstance(out, Path) else out


def run_logged(task: str, cfg: dict[str, Any], log_path: str) -> dict[str, Any]:
    """`ensure_trained` as a job of the paper runner: output in `log_path`; {"results": ...} or {"error": ...}.
    Never raises, so one failing run does not lose the others."""
    return _logged(log_path, lambda: [{"results": ensure_trained(task, cfg, _run_name(cfg))}], 1)[0]


def _run_name(cfg: dict[str, Any]) -> str:
    run = Path(cfg["out_dir"])
    return f"{run.parent.name}/{run.name}"


def run_stacked_logged(cfgs: list[dict[str, Any]], group_dir: str, log_path: str) -> list[dict[str, Any]]:
    """Lifter runs trained as one stacked computation (`lifting.tasks.run_stacked`), resumed from the group's
    last.pt if it has one; one result per run. Never raises."""
    def group():
        from lifting.tasks import run_stacked

        return run_stacked(cfgs, group_dir, (Path(group_dir) / "last.pt").is_file())

    return _logged(log_path, group, len(cfgs))


def _logged(log_path: str, fn: Callable[[], list[dict[str, Any]]], count: int) -> list[dict[str, Any]]:
    """fn() with its output in `log_path`; an error becomes every run's {"error": ...} (the log has the
    traceback)."""
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


# ------------------------------------------------------------------------------------------------ twins

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


def trained_in(run_dir: Path) -> str | None:
    """The twin whose training this run adopted, if any."""
    note = run_dir / TRAINED_IN
    return note.read_text(encoding="utf-8").strip() if note.is_file() else None
