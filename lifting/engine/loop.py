"""The one training loop every model runs through (see `Task`)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from typing import Any

import torch

from lifting.engine.distributed import any_rank, cleanup_distributed, setup_distributed
from lifting.engine.optim import optimizer_step
from lifting.engine.run_dir import Logger, RunDir, check_run_dir, prepare_run, progress, write_results
from lifting.engine.state import read_training_state, restore_training_state, save_training_state, seed_everything
from lifting.engine.task import Task, TrainPlan
from lifting.errors import UserError
from lifting.options.common import RESUME_FREE_KEYS

log = logging.getLogger("lifting")


@dataclass
class RunOptions:
    """The shared run/optimisation keys the loop acts on (`lifting.options.common`)."""

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

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> RunOptions:
        return cls(**{f.name: cfg[f.name] for f in fields(cls) if f.name in cfg})


def check_resume_config(stored: dict[str, Any], cfg: dict[str, Any]) -> None:
    diff = sorted(k for k in cfg if k not in RESUME_FREE_KEYS and stored.get(k) != cfg[k])
    if diff:
        raise UserError(f"--resume: config differs from the run in out_dir in {', '.join(diff)}; "
                        "use the same options or a new out_dir")


def check_finite(loss: torch.Tensor, step: int) -> None:
    if not torch.isfinite(loss):
        raise UserError(f"training diverged at step {step} (loss {loss.item()}); lower lr or check the data")


def fit(task: Task, opts: RunOptions, config: dict[str, Any], resume: bool = False) -> dict[str, Any]:
    """Train `task` (unless it plans no optimiser), evaluate, checkpoint; returns results (rank 0; others {})."""
    dist = setup_distributed(opts.device)
    run = None
    flushed = subnormals_flushed()
    # Adam moments of units that stop receiving gradient decay into subnormal floats, which x86 CPUs process 10-100x
    # slower: a relative lifter's step took 5x longer by epoch 9 of the paper schedule. Flushed to zero while training.
    torch.set_flush_denormal(True)
    try:
        resumed = _check_inputs(opts, config, resume, dist.main)
        if opts.threads:
            torch.set_num_threads(opts.threads)
        generator = seed_everything(opts.seed + 7919 * dist.rank)
        plan = task.setup(dist)
        run = prepare_run(opts.out_dir, config, resume) if dist.main else RunDir(opts.out_dir)
        step, epoch = plan.start_step, 0
        hist = {"train_seconds": 0.0, "outside_seconds": 0.0, "samples": 0, "curve": [], "best": None}
        if resumed is not None:  # the history holds the best evaluation so far: best.pt only improves
            step, epoch, extra = restore_training_state(resumed, plan.model, plan.optimizer, plan.scheduler,
                                                        generator)
            task.load_state(extra["task"])
            hist = extra["history"]
        net = plan.model if plan.train_model is None else plan.train_model
        if dist.distributed and plan.optimizer is not None:
            net = torch.nn.parallel.DistributedDataParallel(
                net, device_ids=[dist.device.index] if dist.device.type == "cuda" else None)
        logger = Logger(run, opts.tensorboard and dist.main and plan.optimizer is not None)
        save = lambda path: dist.main and save_training_state(
            path, task.kind, plan.model, plan.optimizer, plan.scheduler, step, epoch, generator,
            {"config": config, "task": task.state(), "history": hist})
        deadline = None if opts.max_train_minutes is None else time.monotonic() + 60 * opts.max_train_minutes
        metrics, final, stopped = None, False, False
        while plan.optimizer is not None and step < plan.total_steps and not stopped:
            start, loss = step - plan.start_step - epoch * plan.steps_per_epoch, None
            t_epoch = t0 = time.perf_counter()
            for batch in progress(task.batches(epoch, start, generator), plan.steps_per_epoch - start,
                                  f"epoch {epoch + 1}", opts.progress and dist.main):
                hist["outside_seconds"] += time.perf_counter() - t0
                loss, parts = task.loss(net, batch, step)
                optimizer_step(plan.model, plan.optimizer, loss, opts.grad_clip, opts.max_norm)
                if plan.scheduler is not None:
                    plan.scheduler.step()
                step += 1
                hist["samples"] += plan.batch_size * dist.world
                if step % opts.log_every == 0:  # reading the loss synchronises a GPU, so only now and then
                    check_finite(loss, step)
                    for k, v in {"loss": loss, **{f"loss_{k}": v for k, v in parts.items()}}.items():
                        logger.scalar(f"train/{k}", float(v.detach()), step)
                    logger.scalar("train/lr", plan.optimizer.param_groups[0]["lr"], step)
                if opts.checkpoint_every and step % opts.checkpoint_every == 0:
                    save(run.last)
                stopped = deadline is not None and any_rank(time.monotonic() > deadline, dist)
                if step >= plan.total_steps or stopped:
                    break
                t0 = time.perf_counter()
            if dist.device.type == "cuda":
                torch.cuda.synchronize(dist.device)
            hist["train_seconds"] += time.perf_counter() - t_epoch
            if loss is not None:
                check_finite(loss, step)
            if step - plan.start_step == (epoch + 1) * plan.steps_per_epoch:
                epoch += 1
                final = step >= plan.total_steps
                if dist.main and (final or epoch % opts.eval_every == 0):
                    metrics = _evaluate(task, plan, hist, logger, step, epoch, final, lambda: save(run.best))
                save(run.last)
            dist.barrier()
        results: dict[str, Any] = {}
        if dist.main:
            if metrics is None or not final:
                metrics = _evaluate(task, plan, hist, logger, step, epoch, True, lambda: save(run.best))
                save(run.last)
            results = {**metrics, **_timing(hist), "epochs_run": epoch, "iterations": step,
                       "planned_iterations": plan.total_steps, "stopped_by_time_limit": stopped,
                       "world_size": dist.world, "device": str(dist.device), "best": hist["best"],
                       "curve": hist["curve"], "config": config}
            write_results(run, results, task.summary(results))
            logger.close()
        dist.barrier()
        return results
    finally:
        torch.set_flush_denormal(flushed)
        if run is not None:
            run.release()
        cleanup_distributed()


def subnormals_flushed() -> bool:
    """Whether the CPU flushes subnormal floats to zero now (the setting `torch.set_flush_denormal` changes)."""
    return torch.tensor([1e-39]).mul(1.0).item() == 0.0


def _check_inputs(opts: RunOptions, config: dict[str, Any], resume: bool, main: bool) -> dict[str, Any] | None:
    """What the user's input can make fail, checked before any work: the run dir can be written, and the state to
    resume is readable and from the same config (returned). Nothing is written until the data and model are
    built, so a bad input leaves no trace; then `prepare_run` creates the run dir and locks it for one writer."""
    if main:
        check_run_dir(opts.out_dir, resume)
    if not resume:
        return None
    resumed = read_training_state(RunDir(opts.out_dir).last)
    check_resume_config(resumed["extra"]["config"], config)
    return resumed


def _timing(hist: dict[str, Any]) -> dict[str, float]:
    seconds = hist["train_seconds"]
    return {"train_seconds": seconds, "train_samples_per_s": hist["samples"] / seconds if seconds else 0.0,
            "outside_step_fraction": hist["outside_seconds"] / seconds if seconds else 0.0}


def _evaluate(task: Task, plan: TrainPlan, hist: dict, logger: Logger, step: int, epoch: int, final: bool,
              save_best) -> dict[str, Any]:
    """Evaluate, log, keep the curve point, and write best.pt when the best metric improved."""
    metrics = task.evaluate(final)
    point = {"epoch": epoch, "step": step, "minutes": hist["train_seconds"] / 60,
             **{k: metrics[k] for k in plan.curve_keys}}
    hist["curve"].append(point)
    for k in plan.curve_keys:
        logger.scalar(f"test/{k}", metrics[k], step)
    log.info("epoch %d, step %d: %s (%.1f min)", epoch, step,
             ", ".join(f"{k} {metrics[k]:.4g}" for k in plan.curve_keys), point["minutes"])
    value, best = metrics[plan.best_key], hist["best"]
    improved = best is None or (value < best[plan.best_key] if plan.best_mode == "min" else value > best[plan.best_key])
    if plan.optimizer is not None and plan.best_mode != "none" and improved:
        hist["best"] = {**point, plan.best_key: value}
        save_best()
    return metrics
