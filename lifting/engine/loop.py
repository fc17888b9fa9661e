"""The one training loop every model runs through (see `Task`); the policy lives beside it: the optimisation in
`optim`, the trainable state in `state.Training`, what is written in `checkpointer`, the history in `history`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import torch

from lifting.engine.checkpointer import Checkpointer
from lifting.engine.distributed import Dist, any_rank, cleanup_distributed, setup_distributed
from lifting.engine.history import Clock
from lifting.engine.optim import Optimisation
from lifting.engine.run_dir import Logger, RunDir, check_run_dir, progress
from lifting.engine.state import Training, read_training_state, seed_everything
from lifting.engine.task import Task
from lifting.errors import UserError

log = logging.getLogger("lifting")


@dataclass
class RunOptions:
    """The run keys the loop acts on, and the optimisation it builds (`lifting.options.common`)."""

    out_dir: str
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    eval_every: int = 1
    log_every: int = 100
    checkpoint_every: int | None = None
    grad_clip: float | None = None
    max_norm: float | None = None
    max_train_minutes: float | None = None
    tensorboard: bool = True
    progress: bool = True
    optim: Optimisation = field(default_factory=Optimisation)
    resume_free_keys: frozenset[str] = frozenset()   # config keys a --resume may change

    @classmethod
    def from_config(cls, cfg: dict[str, Any], resume_free_keys: frozenset[str] = frozenset()) -> RunOptions:
        plain = {f.name: cfg[f.name] for f in fields(cls) if f.name in cfg}
        return cls(**plain, optim=Optimisation.from_config(cfg), resume_free_keys=resume_free_keys)


def fit(task: Task, opts: RunOptions, config: dict[str, Any], resume: bool = False,
        checkpointer: Callable[..., Checkpointer] = Checkpointer) -> dict[str, Any]:
    """Train `task` (unless its plan is evaluation only), evaluate, checkpoint; returns results (rank 0; others {}).
    `checkpointer(training, out_dir, config, resume, main)` makes what writes the run's files."""
    dist, ckpt, flushed = setup_distributed(opts.device), None, subnormals_flushed()
    # Adam moments of units that stop receiving gradient decay into subnormal floats, which x86 CPUs process 10-100x
    # slower: a relative lifter's step took 5x longer by epoch 9 of the paper schedule. Flushed to zero while training.
    torch.set_flush_denormal(True)
    try:
        resumed = _check_inputs(opts, config, resume, dist.main)
        if opts.threads:
            torch.set_num_threads(opts.threads)
        generator = seed_everything(opts.seed + 7919 * dist.rank)
        t = Training(task, task.setup(dist), opts.optim, generator, dist)
        ckpt = checkpointer(t, opts.out_dir, config, resume, dist.main)
        if resumed is not None:
            t.restore(resumed)
        logger = Logger(ckpt.run, opts.tensorboard and dist.main and t.optimizer is not None)
        out_of_time = _time_limit(opts.max_train_minutes, dist)
        metrics, final, stopped = None, False, False
        while t.step < t.total and not stopped:
            epoch, start = t.position()
            clock, loss = Clock(t.history), None
            for batch in progress(task.batches(epoch, start, generator), t.plan.steps_per_epoch - start,
                                  f"epoch {epoch + 1}", opts.progress and dist.main):
                clock.batch_ready()
                loss, parts = task.loss(t.net, batch, t.step)
                t.update(loss, opts.grad_clip, opts.max_norm)
                if t.step % opts.log_every == 0:  # reading the loss synchronises a GPU, so only now and then
                    _log_step(logger, t, loss, parts)
                if opts.checkpoint_every and t.step % opts.checkpoint_every == 0:
                    ckpt.save_last()
                stopped = out_of_time()
                if t.step >= t.total or stopped:
                    break
                clock.step_done()
            clock.stop(dist.device)
            if loss is not None:
                check_finite(loss, t.step)
            if t.position()[1] == 0:  # the epoch is complete
                final = t.step >= t.total
                if dist.main and (final or t.epoch % opts.eval_every == 0):
                    metrics = _evaluate(task, t, ckpt, logger, final)
                ckpt.save_last()
            dist.barrier()
        results: dict[str, Any] = {}
        if dist.main:
            if metrics is None or not final:
                metrics = _evaluate(task, t, ckpt, logger, True)
                ckpt.save_last()
            results = ckpt.finish(t.results(metrics, stopped, config))
            logger.close()
        dist.barrier()
        return results
    finally:
        torch.set_flush_denormal(flushed)
        if ckpt is not None:
            ckpt.release()
        cleanup_distributed()


def subnormals_flushed() -> bool:
    """Whether the CPU flushes subnormal floats to zero now (the setting `torch.set_flush_denormal` changes)."""
    return torch.tensor([1e-39]).mul(1.0).item() == 0.0


def check_resume_config(stored: dict[str, Any], cfg: dict[str, Any], free: frozenset[str]) -> None:
    diff = sorted(k for k in cfg if k not in free and stored.get(k) != cfg[k])
    if diff:
        raise UserError(f"--resume: config differs from the run in out_dir in {', '.join(diff)}; "
                        "use the same options or a new out_dir")


def check_finite(loss: torch.Tensor, step: int) -> None:
    if not torch.isfinite(loss):
        raise UserError(f"training diverged at step {step} (loss {loss.item()}); lower lr or check the data")


def _check_inputs(opts: RunOptions, config: dict[str, Any], resume: bool, main: bool) -> dict[str, Any] | None:
    """What the user's input can make fail, checked before any work: the run dir can be written, and the state to
    resume is readable and from the same config (returned). Nothing is written until the data and model are
    built, so a bad input leaves no trace; then the checkpointer creates the run dir and locks it for one writer."""
    if main:
        check_run_dir(opts.out_dir, resume)
    if not resume:
        return None
    resumed = read_training_state(RunDir(opts.out_dir).last)
    check_resume_config(resumed["extra"]["config"], config, opts.resume_free_keys)
    return resumed


def _time_limit(minutes: float | None, dist: Dist) -> Callable[[], bool]:
    """Whether the wall-time limit passed, on any rank (so ranks keep stepping in lockstep)."""
    if minutes is None:
        return lambda: False
    deadline = time.monotonic() + 60 * minutes
    return lambda: any_rank(time.monotonic() > deadline, dist)


def _log_step(logger: Logger, t: Training, loss: torch.Tensor, parts: dict[str, torch.Tensor]) -> None:
    check_finite(loss, t.step)
    for k, v in {"loss": loss, **{f"loss_{k}": v for k, v in parts.items()}}.items():
        logger.scalar(f"train/{k}", float(v.detach()), t.step)
    logger.scalar("train/lr", t.optimizer.param_groups[0]["lr"], t.step)


def _evaluate(task: Task, t: Training, ckpt: Checkpointer, logger: Logger, final: bool) -> dict[str, Any]:
    """Evaluate, log, keep the curve point, and let the checkpointer keep the best."""
    metrics, keys = task.evaluate(final), t.plan.curve_keys
    point = {"epoch": t.epoch, "step": t.step, "minutes": t.history.train_seconds / 60, **{k: metrics[k] for k in keys}}
    t.history.curve.append(point)
    for k in keys:
        logger.scalar(f"test/{k}", metrics[k], t.step)
    log.info("epoch %d, step %d: %s (%.1f min)", t.epoch, t.step, ", ".join(f"{k} {metrics[k]:.4g}" for k in keys),
             point["minutes"])
    ckpt.maybe_save_best(metrics)
    return metrics
