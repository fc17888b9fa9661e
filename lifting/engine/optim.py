"""The optimisation a run's config describes, built once for every task: the run's length, the optimiser, the
learning-rate schedule (a `LambdaLR`, whose state goes into every checkpoint so a resumed run has the same learning
rate at every step) and compilation; and the optimiser step (gradient clipping, weight max-norm)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

import torch

from lifting.engine.task import TrainPlan
from lifting.errors import UserError

log = logging.getLogger("lifting")


@dataclass(frozen=True)
class Optimisation:
    """The optimisation keys of a config (`lifting.options.common.optimisation`, and `compile`)."""

    epochs: int = 1
    iterations: int | None = None            # total steps (None: epochs x steps per epoch)
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    lr_decay: float = 0.96
    lr_decay_steps: int = 100_000
    lr_drop_fraction: float | None = None    # one decay after this fraction of the run (instead of lr_decay_steps)
    phase2_fraction: float = 2 / 27
    compile: bool = False

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Optimisation:
        return cls(**{f.name: cfg[f.name] for f in fields(cls) if f.name in cfg})

    def total_steps(self, plan: TrainPlan) -> int:
        """The step the run ends at (a fine-tuned run counts on from the loaded run's step)."""
        return plan.start_step + ((self.iterations or self.epochs * plan.steps_per_epoch) if plan.train else 0)

    def optimizer(self, plan: TrainPlan, total: int) -> tuple[torch.optim.Optimizer, Any]:
        """The plan's optimiser over its model (with the loaded run's state when fine-tuning) and the schedule."""
        params = plan.model.parameters()
        if plan.optimizer == "adamw":  # MeTRo: decay per step wd * (eta_t / eta0) / sqrt(T); torch multiplies by lr
            optimizer = torch.optim.AdamW(params, lr=self.lr, eps=1e-8,
                                          weight_decay=self.weight_decay / (math.sqrt(max(total, 1)) * self.lr))
        else:
            optimizer = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay,
                                         fused=True if plan.optimizer == "adam_fused" else None)
        if plan.optimizer_state is not None:
            optimizer.load_state_dict(plan.optimizer_state)
        if plan.step_hook is not None:
            optimizer.register_step_post_hook(lambda *_: plan.step_hook())
        decay_steps = self.lr_decay_steps if self.lr_drop_fraction is None else \
            max(1, round(self.lr_drop_fraction * total))
        return optimizer, make_scheduler(optimizer, self.lr_schedule, total, self.warmup_steps, self.lr_decay,
                                         decay_steps, self.phase2_fraction, plan.start_step, self.lr)


def compiled(model: torch.nn.Module, example: tuple[torch.Tensor, ...]) -> torch.nn.Module:
    """torch.compile'd `model`, probed once in eval mode on `example` inputs, so a platform that cannot compile
    falls back to eager at once (with a warning) instead of failing at the first training step."""
    try:
        net = torch.compile(model)
        model.eval()
        with torch.no_grad():
            net(*example)
        model.train()
        return net
    except Exception as e:  # no C++ compiler, unsupported platform ...
        model.train()
        log.warning("torch.compile failed (%s); training eagerly", e.__class__.__name__)
        return model


def lr_factor(step: int, schedule: str, total_steps: int, warmup_steps: int = 0, decay: float = 0.96,
              decay_steps: int = 100_000, phase2_fraction: float = 2 / 27, final_fraction: float = 0.01) -> float:
    """Multiplier of the base learning rate at `step`.

    'staircase': decay^floor(step/decay_steps) (Ronchi et al.); 'exponential': the continuous version (Martinez
    et al.); 'cosine': linear warm-up then cosine to `final_fraction`; 'two_phase' (MeTRo): (1/3)^(t/T1) for
    t < T1, then (1/30) * 0.3^((t-T1)/T2) with T2 = phase2_fraction * total; 'constant'.
    """
    if schedule == "staircase":
        return decay ** (step // decay_steps)
    if schedule == "exponential":
        return decay ** (step / decay_steps)
    if schedule == "cosine":
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        t = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * t))
    if schedule == "two_phase":
        t2 = max(1, round(total_steps * phase2_fraction))
        t1 = max(1, total_steps - t2)
        if step < t1:
            return (1 / 3) ** (step / t1)
        return (1 / 30) * 0.3 ** ((step - t1) / t2)
    if schedule == "constant":
        return 1.0
    raise UserError(f"lr_schedule: unknown schedule {schedule!r}; expected staircase, exponential, cosine, "
                    "two_phase or constant")


def make_scheduler(optimizer: torch.optim.Optimizer, schedule: str, total_steps: int, warmup_steps: int = 0,
                   decay: float = 0.96, decay_steps: int = 100_000, phase2_fraction: float = 2 / 27,
                   start_step: int = 0, base_lr: float | None = None) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR of the named schedule, positioned at `start_step` (fine-tuning continues a loaded run's count)
    with `base_lr` as its base (default: the optimiser's current learning rate)."""
    lam = partial(lr_factor, schedule=schedule, total_steps=total_steps, warmup_steps=warmup_steps, decay=decay,
                  decay_steps=decay_steps, phase2_fraction=phase2_fraction)
    if start_step:
        for group in optimizer.param_groups:
            group["initial_lr"] = group["lr"] if base_lr is None else base_lr
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lam(s), last_epoch=start_step - 1)


@torch.no_grad()
def apply_max_norm(model: torch.nn.Module, max_norm: float) -> None:
    """Rescale every linear layer's weight matrix whose Frobenius norm exceeds `max_norm` onto that bound."""
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            norm = torch.linalg.matrix_norm(m.weight)
            m.weight.mul_(torch.clamp(max_norm / (norm + 1e-12), max=1.0))


def optimizer_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor,
                   grad_clip: float | None, max_norm: float | None = None) -> None:
    """Backward pass, optional global gradient-norm clipping, parameter update, optional weight max-norm.

    A fused Adam divides the gradients by its `grad_scale` as it reads them (the hook `GradScaler` uses), so
    there the clip costs one pass over the gradients (their norm) instead of two."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip and hasattr(model, "clip_grad_norm_"):  # a model of several runs clips each run's norm
        model.clip_grad_norm_(grad_clip)
    elif grad_clip and all(group.get("fused") for group in optimizer.param_groups):
        norm = torch.nn.utils.get_total_norm([p.grad for group in optimizer.param_groups for p in group["params"]
                                              if p.grad is not None])
        optimizer.grad_scale = torch.clamp((norm + 1e-6) / grad_clip, min=1.0)
    elif grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    if max_norm:
        apply_max_norm(model, max_norm)
