"""One task per model family, all trained by `lifting.engine.fit`. `run_task(name, cfg)` is what entry points
and the paper runner call."""

from __future__ import annotations

from importlib import import_module
from typing import Any

# name -> (module, task class)
TASKS = {
    "lifting": ("lifting.tasks.lifting", "LiftingTask"),
    "lsp": ("lifting.tasks.lsp", "LspTask"),
    "metro": ("lifting.tasks.metro", "MetroTask"),
    "rootnet": ("lifting.tasks.rootnet", "RootNetTask"),
    "detector": ("lifting.tasks.detector", "DetectorTask"),
}


def build_task(name: str, cfg: dict[str, Any]):
    module, cls = TASKS[name]
    return getattr(import_module(module), cls)(cfg)


def run_task(name: str, cfg: dict[str, Any], resume: bool = False) -> dict[str, Any]:
    """Build the named task from a validated config and train/evaluate it in the one loop."""
    from lifting.engine import RunOptions, fit
    from lifting.options.common import RESUME_FREE_KEYS

    return fit(build_task(name, cfg), RunOptions.from_config(cfg, RESUME_FREE_KEYS), cfg, resume)


def run_stacked(cfgs: list[dict[str, Any]], out_dir: str, resume: bool = False) -> list[dict[str, Any]]:
    """Train lifter runs of one `stacked_lifting.stack_key` as one computation, the joint state in `out_dir`;
    per run {"results": its results} or {"error": why it stopped}, in the order of `cfgs`."""
    from lifting.engine import RunOptions, fit
    from lifting.options.common import RESUME_FREE_KEYS
    from lifting.tasks.stacked_lifting import StackedCheckpointer, StackedLiftingTask

    task = StackedLiftingTask(cfgs)
    config = {"runs": [{k: v for k, v in c.items() if k not in RESUME_FREE_KEYS} for c in cfgs]}
    fit(task, RunOptions.from_config({**cfgs[0], "out_dir": out_dir}, RESUME_FREE_KEYS), config, resume,
        checkpointer=StackedCheckpointer)
    return [{"error": e} if e else {"results": r} for e, r in zip(task.errors, task.results)]
