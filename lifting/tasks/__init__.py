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
}


def build_task(name: str, cfg: dict[str, Any]):
    module, cls = TASKS[name]
    return getattr(import_module(module), cls)(cfg)


def run_task(name: str, cfg: dict[str, Any], resume: bool = False) -> dict[str, Any]:
    """Build the named task from a validated config and train/evaluate it in the one loop."""
    from lifting.engine import RunOptions, fit

    return fit(build_task(name, cfg), RunOptions.from_config(cfg), cfg, resume)
