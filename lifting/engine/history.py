"""What a run accumulates besides its weights: training time, samples seen, the evaluation curve and the best
evaluation. Saved in every checkpoint as a plain dict (weights_only-loadable), so a resumed run continues it."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch


@dataclass
class History:
    train_seconds: float = 0.0     # wall time of the training steps, batch preparation included
    outside_seconds: float = 0.0   # the part of it spent waiting for batches
    samples: int = 0               # training samples over all processes
    curve: list[dict[str, Any]] = field(default_factory=list)   # one point per evaluation
    best: dict[str, Any] | None = None                          # the point of the best evaluation (best.pt)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> History:
        return cls(**{f.name: state[f.name] for f in fields(cls)})

    def timing(self) -> dict[str, float]:
        seconds = self.train_seconds
        return {"train_seconds": seconds, "train_samples_per_s": self.samples / seconds if seconds else 0.0,
                "outside_step_fraction": self.outside_seconds / seconds if seconds else 0.0}


class Clock:
    """Times one stretch of training steps into a `History`."""

    def __init__(self, history: History):
        self.history = history
        self.start = self.ready = time.perf_counter()

    def batch_ready(self) -> None:
        self.history.outside_seconds += time.perf_counter() - self.ready

    def step_done(self) -> None:
        self.ready = time.perf_counter()

    def stop(self, device: torch.device) -> None:
        """End the stretch once the device finished its queued work."""
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        self.history.train_seconds += time.perf_counter() - self.start
