"""Everything a run writes, behind one object: the run directory (created and locked for one writer), last.pt,
best.pt when the best metric improves, and at the end the task's artefacts, results.json and results.md. It is the
seam a run that writes elsewhere replaces (`lifting.tasks.stacked_lifting.StackedCheckpointer`)."""

from __future__ import annotations

from typing import Any

from lifting.engine.run_dir import RunDir, prepare_run, write_results
from lifting.engine.state import Training


class Checkpointer:
    def __init__(self, training: Training, out_dir: str, config: dict[str, Any], resume: bool, main: bool):
        """Create the run directory and save `config` in it (rank 0; the others only know its paths)."""
        self.training, self.config, self.main = training, config, main
        self.run = prepare_run(out_dir, config, resume) if main else RunDir(out_dir)

    def save_last(self) -> None:
        if self.main:
            self.training.save(self.run.last, self.config)

    def maybe_save_best(self, metrics: dict[str, Any]) -> None:
        """Write best.pt when the plan's best metric improved on the history's best (training runs only); the
        evaluation's curve point is the history's last."""
        t, plan = self.training, self.training.plan
        value, best = metrics[plan.best_key], t.history.best
        improved = best is None or (value < best[plan.best_key] if plan.best_mode == "min"
                                    else value > best[plan.best_key])
        if t.optimizer is not None and improved:
            t.history.best = {**t.history.curve[-1], plan.best_key: value}
            t.save(self.run.best, self.config)

    def finish(self, results: dict[str, Any]) -> dict[str, Any]:
        """The task's artefacts, then results.json and results.md with the keys its report adds; returns them."""
        task = self.training.task
        extra, markdown = task.report(results)
        results = {**results, **extra}
        task.artefacts(self.run.root)
        write_results(self.run, results, markdown)
        return results

    def release(self) -> None:
        """Drop the run directory's writer lock (the run ended, however it ended)."""
        self.run.release()
