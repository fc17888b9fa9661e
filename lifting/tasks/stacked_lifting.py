"""Task: several lifter runs that train on data of one size with one schedule, trained as one computation
(`StackedLinearModel`): the rows and seeds of a paper experiment share each step's fixed cost instead of paying it
once per run.

Every member is the `LiftingTask` it would be alone, set up from the RNG state its lone run would have (seeded
generators for data order and for dropout), so on a CPU it follows the same trajectory up to float rounding. Each
member keeps its own loss, data, pair draws, best.pt/last.pt (the format of a lone run, resumable alone),
results.json and predictions; a member whose loss stops being finite stops alone (its parameters are disjoint from
the others', and its loss is masked out of the sum). The stacked run's own directory holds the joint state that
resumes the group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lifting.engine import Dist, TrainPlan
from lifting.engine.optim import make_scheduler
from lifting.engine.run_dir import RunDir, prepare_run, write_results
from lifting.engine.state import save_training_state, seed_everything
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
        self.runs: list[RunDir] = []
        self.errors: list[str | None] = [None] * len(cfgs)
        self.results: list[dict[str, Any] | None] = [None] * len(cfgs)
        self.history = [{"evaluations": [], "best": None} for _ in cfgs]
        self.final_metrics: list[dict[str, Any] | None] = [None] * len(cfgs)
        self.step = self.epoch = 0

    def setup(self, dist: Dist) -> TrainPlan:
        """Each member set up as `fit` would set it up alone (seeded, then its task's setup), its two generators
        taken from that state; then the stacked model, one Adam over it and the shared schedule."""
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
        cfg, first = self.cfgs[0], plans[0]
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                                          fused=True)
        self.scheduler = make_scheduler(self.optimizer, cfg["lr_schedule"], first.total_steps, cfg["warmup_steps"],
                                        cfg["lr_decay"], cfg["lr_decay_steps"], cfg["phase2_fraction"])
        self.runs = [prepare_run(c["out_dir"], c) for c in self.cfgs]
        return TrainPlan(self.model, self.optimizer, self.scheduler, first.steps_per_epoch, first.total_steps,
                         first.batch_size, best_mode="none", curve_keys=("mpjpe", "n_mpjpe", "pa_mpjpe"))

    def batches(self, epoch: int, start: int, generator: torch.Generator):
        """Every member's batch of this step (its own permutation and pair draws); their inputs stacked."""
        self.epoch = epoch
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
        """Each live member evaluated through its own `LinearModel`; its best.pt written when its metric improves.
        Returns the mean over live members (the stacked run's curve)."""
        rows = []
        for k, member in enumerate(self.members):
            if not self.alive[k]:
                continue
            member.model.load_state_dict(self.model.member_state_dict(k))
            metrics = member.evaluate(final)
            hist, key = self.history[k], self.plans[k].best_key
            point = {m: metrics[m] for m in ("mpjpe", "n_mpjpe", "pa_mpjpe")}
            hist["evaluations"].append(point)
            if hist["best"] is None or metrics[key] < hist["best"][key]:
                hist["best"] = {"epoch": self.epoch + 1, "step": self.step, **point}
                self._save_member(k, self.runs[k].best)
            self.final_metrics[k] = metrics
            rows.append(metrics)
        if not rows:
            raise UserError("every stacked run diverged; lower lr or check the data")
        return {m: sum(r[m] for r in rows) / len(rows) for m in ("mpjpe", "n_mpjpe", "pa_mpjpe")}

    def _member_optimizer_state(self, k: int) -> dict[str, Any]:
        """Member k's slice of the Adam state, in the layout its lone optimiser would have."""
        state = self.optimizer.state_dict()
        own = [n for n, _ in self.model.named_parameters()]
        slots = [own.index(n.replace(".", "_")) for n, _ in self.members[k].model.named_parameters()]
        group = {**state["param_groups"][0], "params": list(range(len(slots)))}
        return {"state": {i: {"step": s["step"].clone(), "exp_avg": stacked_layout(s["exp_avg"][k]).contiguous(),
                              "exp_avg_sq": stacked_layout(s["exp_avg_sq"][k]).contiguous()}
                          for i, j in enumerate(slots) if (s := state["state"].get(j)) is not None},
                "param_groups": [group]}

    def _save_member(self, k: int, path: Path) -> None:
        """A lone run's training state for member k (weights, Adam slice, schedule, its generators, history)."""
        member = self.members[k]
        member.model.load_state_dict(self.model.member_state_dict(k))
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self.dropout_generators[k].get_state())
            save_training_state(path, member.kind, member.model, _Frozen(self._member_optimizer_state(k)), self.scheduler,
                                self.step, self.epoch, self.generators[k],
                                {"config": self.cfgs[k], "task": member.state(), "history": self._lone_history(k)})

    def _lone_history(self, k: int) -> dict[str, Any]:
        return {"train_seconds": 0.0, "outside_seconds": 0.0, "samples": 0, "curve": [],
                "best": self.history[k]["best"]}

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

    def summary(self, res: dict[str, Any]) -> str:
        """Each live member's results.json/results.md, predictions and last.pt, as its lone run writes them."""
        shared = {k: res[k] for k in ("train_seconds", "train_samples_per_s", "outside_step_fraction",
                                      "epochs_run", "iterations", "planned_iterations", "stopped_by_time_limit",
                                      "world_size", "device")}
        lines = [f"# {len(self.members)} stacked lifter runs", "", "| run | status | MPJPE | PA-MPJPE |",
                 "|---|---|---|---|"]
        for k, member in enumerate(self.members):
            if not self.alive[k]:
                self.errors[k] = (f"training diverged at step {int(self.diverged_at[k])} (loss not finite); "
                                  "lower lr or check the data")
                lines.append(f"| {self.cfgs[k]['out_dir']} | diverged | | |")
                continue
            metrics = self.final_metrics[k]
            curve = [{**{n: p[n] for n in ("epoch", "step", "minutes")}, **e}
                     for p, e in zip(res["curve"], self.history[k]["evaluations"])]
            out = {**metrics, **shared, "stacked_runs": len(self.members), "best": self.history[k]["best"],
                   "curve": curve, "config": self.cfgs[k]}
            markdown = member.summary(out)
            self._save_member(k, self.runs[k].last)
            write_results(self.runs[k], out, markdown)
            self.results[k] = out
            lines.append(f"| {self.cfgs[k]['out_dir']} | done | {out['mpjpe']:.1f} | {out['pa_mpjpe']:.1f} |")
        return "\n".join(lines) + "\n"

    def release(self) -> None:
        for run in self.runs:
            run.release()


class _Frozen:
    """An optimiser state to save (what `save_training_state` asks of an optimiser)."""

    def __init__(self, state: dict[str, Any]):
        self._state = state

    def state_dict(self) -> dict[str, Any]:
        return self._state
