"""Task: several lifter runs that train on data of one size with one schedule, trained as one computation
(`StackedLinearModel`): the rows and seeds of a paper experiment share each step's fixed cost instead of paying it
once per run.

Every member is the `LiftingTask` it would be alone, set up from the RNG state its lone run would have (seeded
generators for data order and for dropout), so on a CPU it follows the same trajectory up to float rounding. Each
member keeps its own loss, data, pair draws, best.pt/last.pt (the format of a lone run, resumable alone),
results.json and predictions, written by `StackedCheckpointer`; a member whose loss stops being finite stops alone
(its parameters are disjoint from the others', and its loss is masked out of the sum). The stacked run's own
directory holds the joint state that resumes the group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lifting.engine import Checkpointer, Dist, TrainPlan
from lifting.engine.history import History
from lifting.engine.run_dir import RunDir, prepare_run, write_results
from lifting.engine.state import Training, save_training_state, seed_everything
from lifting.errors import UserError
from lifting.models.linear import StackedLinearModel, stacked_layout
from lifting.tasks.lifting import LiftingTask

# Keys that may differ between the members of a stacked run; every other key must be equal.
PER_RUN_KEYS = frozenset({
    "out_dir", "seed", "load", "model", "dropout", "unnorm_init", "scale_range", "sup_loss", "num_pairs",
    "tolerance_mm", "distance_multiplier", "rel_labels_noise_prob", "reprojection", "loss_relative", "loss_reproj",
    "loss_root", "loss_symm", "limb_type", "train_noise_type", "train_noise_amount", "test_noise_type",
    "test_noise_amount", "detections_dir", "detections_file", "predictions_2d", "train_predictions_2d",
    "train_targets_3d", "pair_labels_from", "in_dropout_p", "pairs_per_step", "flip_augment", "flip_test", "save_predictions",
    "figure"})


def stack_key(cfg: dict[str, Any]) -> tuple | None:
    """Runs with equal keys can train stacked; None: this run trains alone (evaluation only, weight max-norm,
    torch.compile or weight averaging, which the stacked model does not do)."""
    if cfg["eval_only"] or cfg["max_norm"] or cfg["compile"] or cfg["weight_average"] is not None:
        return None
    return tuple((k, repr(v)) for k, v in sorted(cfg.items()) if k not in PER_RUN_KEYS)


class StackedLiftingTask:
    kind = "stacked"

    def __init__(self, cfgs: list[dict[str, Any]]):
        """`cfgs`: validated main_human36.py configs with one `stack_key`, each with its own out_dir."""
        if len({stack_key(c) for c in cfgs}) != 1 or stack_key(cfgs[0]) is None:
            raise UserError("stacked lifter runs must share every setting but "
                            f"{', '.join(sorted(PER_RUN_KEYS))}, and not use eval_only, max_norm, compile or weight_average")
        self.cfgs, self.members = cfgs, [LiftingTask(c) for c in cfgs]
        self.results: list[dict[str, Any] | None] = [None] * len(cfgs)   # each member's, when the run finished
        self.history = [{"evaluations": [], "best": None} for _ in cfgs]
        self.final_metrics: list[dict[str, Any] | None] = [None] * len(cfgs)
        self.step = 0

    def setup(self, dist: Dist) -> TrainPlan:
        """Each member set up as `fit` would set it up alone (seeded, then its task's setup), its two generators
        taken from that state; then the stacked model (one fused Adam over it and the shared schedule)."""
        self.device, plans = dist.device, []
        self.generators, dropout_generators = [], []
        for member, cfg in zip(self.members, self.cfgs):
            with torch.random.fork_rng(devices=[]):
                self.generators.append(seed_everything(cfg["seed"]))
                plans.append(member.setup(dist))
                dropout_generators.append(torch.Generator().set_state(torch.get_rng_state()))
        sizes = {len(m.train) for m in self.members}
        if len(sizes) != 1:
            raise UserError(f"stacked lifter runs must have training sets of one size, got {sorted(sizes)}")
        self.plans, self.dropout_generators = plans, dropout_generators
        self.model = StackedLinearModel([m.model for m in self.members], [c["dropout"] for c in self.cfgs],
                                        dropout_generators).to(self.device)
        self.alive = torch.ones(len(self.members), dtype=torch.bool, device=self.device)
        self.diverged_at = torch.zeros(len(self.members), dtype=torch.long, device=self.device)
        first = plans[0]
        return TrainPlan(self.model, first.steps_per_epoch, first.batch_size, optimizer="adam_fused",
                         curve_keys=("mpjpe", "n_mpjpe", "pa_mpjpe"))

    def batches(self, epoch: int, start: int, generator: torch.Generator):
        """Every member's batch of this step (its own permutation and pair draws); their inputs stacked."""
        streams = [m.batches(epoch, start, g) for m, g in zip(self.members, self.generators)]
        for parts in zip(*streams):
            yield {"x": torch.stack([p["x"] for p in parts]), "members": parts}

    def loss(self, net: torch.nn.Module, batch: dict[str, torch.Tensor], step: int):
        """Sum of the members' losses (disjoint parameters: each gets its lone gradient); a member whose loss is
        not finite is masked out from this step on."""
        pose, scale = net(batch["x"])
        losses = torch.stack([m.loss_of(pose[k], scale[k], part)[0]
                              for k, (m, part) in enumerate(zip(self.members, batch["members"]))])
        finite = torch.isfinite(losses)
        self.diverged_at = torch.where(self.alive & ~finite, step + 1, self.diverged_at)
        self.alive &= finite
        self.step = step + 1
        if self.step % self.cfgs[0]["log_every"] == 0 and not bool(self.alive.any()):
            raise UserError(f"training diverged at step {self.step}: every stacked run's loss is not finite; "
                            "lower lr or check the data")
        return torch.where(self.alive, losses, 0.0).sum(), {f"run{k}": losses[k].detach()
                                                             for k in range(len(self.members))}

    def evaluate(self, final: bool) -> dict[str, Any]:
        """Each live member evaluated through its own `LinearModel`. Returns the mean over live members (the stacked
        run's curve)."""
        rows = []
        for k, member in enumerate(self.members):
            if not self.alive[k]:
                continue
            member.model.load_state_dict(self.model.member_state_dict(k))
            metrics = member.evaluate(final)
            self.history[k]["evaluations"].append({m: metrics[m] for m in ("mpjpe", "n_mpjpe", "pa_mpjpe")})
            self.final_metrics[k] = metrics
            rows.append(metrics)
        if not rows:
            raise UserError("every stacked run diverged; lower lr or check the data")
        return {m: sum(r[m] for r in rows) / len(rows) for m in ("mpjpe", "n_mpjpe", "pa_mpjpe")}

    @property
    def errors(self) -> list[str | None]:
        """Why each member stopped (None: it did not diverge)."""
        return [None if alive else f"training diverged at step {int(at)} (loss not finite); lower lr or check the data"
                for alive, at in zip(self.alive.tolist(), self.diverged_at.tolist())]

    def state(self) -> dict[str, Any]:
        return {"members": [m.state() for m in self.members], "history": self.history,
                "generators": [g.get_state() for g in self.generators],
                "dropout_generators": [g.get_state() for g in self.dropout_generators],
                "alive": self.alive.cpu(), "diverged_at": self.diverged_at.cpu(), "step": self.step}

    def load_state(self, state: dict[str, Any]) -> None:
        for member, s in zip(self.members, state["members"]):
            member.load_state(s)
        for g, s in zip(self.generators + self.dropout_generators, state["generators"] + state["dropout_generators"]):
            g.set_state(s)
        self.history, self.step = state["history"], state["step"]
        self.alive.copy_(state["alive"])
        self.diverged_at.copy_(state["diverged_at"])

    def report(self, res: dict[str, Any]) -> tuple[dict[str, Any], str]:
        lines = [f"# {len(self.members)} stacked lifter runs", "", "| run | status | MPJPE | PA-MPJPE |",
                 "|---|---|---|---|"]
        for cfg, out in zip(self.cfgs, self.results):
            lines.append(f"| {cfg['out_dir']} | diverged | | |" if out is None else
                         f"| {cfg['out_dir']} | done | {out['mpjpe']:.1f} | {out['pa_mpjpe']:.1f} |")
        return {}, "\n".join(lines) + "\n"

    def artefacts(self, out_dir: Path) -> None:
        pass


class StackedCheckpointer(Checkpointer):
    """The joint state in the stacked run's directory; each member's best.pt, last.pt, results and artefacts in its
    own directory, as its lone run writes them."""

    SHARED = ("train_seconds", "train_samples_per_s", "outside_step_fraction", "epochs_run", "iterations",
              "planned_iterations", "stopped_by_time_limit", "world_size", "device")

    def __init__(self, training: Training, out_dir: str, config: dict[str, Any], resume: bool, main: bool):
        super().__init__(training, out_dir, config, resume, main)
        self.task: StackedLiftingTask = training.task
        self.runs: list[RunDir] = []
        try:
            for cfg in self.task.cfgs:
                self.runs.append(prepare_run(cfg["out_dir"], cfg))
        except BaseException:
            self.release()
            raise

    def maybe_save_best(self, metrics: dict[str, Any]) -> None:
        """Each live member's best.pt when its own best metric improved."""
        t, task = self.training, self.task
        for k in range(len(task.members)):
            hist, key, point = task.history[k], task.plans[k].best_key, task.history[k]["evaluations"][-1:]
            if task.alive[k] and (hist["best"] is None or point[0][key] < hist["best"][key]):
                hist["best"] = {"epoch": t.epoch, "step": t.step, **point[0]}
                self._save_member(k, self.runs[k].best)

    def finish(self, results: dict[str, Any]) -> dict[str, Any]:
        """Each live member's results, artefacts and last.pt, then the joint results (a table of the members)."""
        task, shared = self.task, {k: results[k] for k in self.SHARED}
        for k, member in enumerate(task.members):
            if not task.alive[k]:
                continue
            curve = [{**{n: p[n] for n in ("epoch", "step", "minutes")}, **e}
                     for p, e in zip(results["curve"], task.history[k]["evaluations"])]
            out = {**task.final_metrics[k], **shared, "stacked_runs": len(task.members),
                   "best": task.history[k]["best"], "curve": curve, "config": task.cfgs[k]}
            extra, markdown = member.report(out)
            member.artefacts(self.runs[k].root)
            self._save_member(k, self.runs[k].last)
            write_results(self.runs[k], {**out, **extra}, markdown)
            task.results[k] = {**out, **extra}
        return super().finish(results)

    def release(self) -> None:
        super().release()
        for run in self.runs:
            run.release()

    def _member_optimizer_state(self, k: int) -> dict[str, Any]:
        """Member k's slice of the Adam state, in the layout its lone optimiser would have."""
        state = self.training.optimizer.state_dict()
        own = [n for n, _ in self.task.model.named_parameters()]
        slots = [own.index(n.replace(".", "_")) for n, _ in self.task.members[k].model.named_parameters()]
        group = {**state["param_groups"][0], "params": list(range(len(slots)))}
        return {"state": {i: {"step": s["step"].clone(), "exp_avg": stacked_layout(s["exp_avg"][k]).contiguous(),
                              "exp_avg_sq": stacked_layout(s["exp_avg_sq"][k]).contiguous()}
                          for i, j in enumerate(slots) if (s := state["state"].get(j)) is not None},
                "param_groups": [group]}

    def _save_member(self, k: int, path: Path) -> None:
        """A lone run's training state for member k (weights, Adam slice, schedule, its generators, history)."""
        t, task, member = self.training, self.task, self.task.members[k]
        member.model.load_state_dict(task.model.member_state_dict(k))
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(task.dropout_generators[k].get_state())
            save_training_state(path, member.kind, member.model, _Frozen(self._member_optimizer_state(k)),
                                t.scheduler, t.step, t.epoch, task.generators[k],
                                {"config": task.cfgs[k], "task": member.state(),
                                 "history": History(best=task.history[k]["best"]).to_dict()})


class _Frozen:
    """An optimiser state to save (what `save_training_state` asks of an optimiser)."""

    def __init__(self, state: dict[str, Any]):
        self._state = state

    def state_dict(self) -> dict[str, Any]:
        return self._state
