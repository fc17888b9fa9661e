"""Option groups every entry point shares (run, data, optimisation), defined once so one concept has one
name everywhere. An entry point composes its schema from these plus its own keys and may change a default."""

from __future__ import annotations

from typing import Any

from lifting.config import Option, Schema, opt

SCHEDULES = ("cosine", "staircase", "exponential", "constant", "two_phase")


def _with(group: Schema, defaults: dict[str, Any]) -> Schema:
    unknown = set(defaults) - set(group)
    if unknown:
        raise KeyError(f"no such shared option: {sorted(unknown)}")
    return {k: (Option(o.types, defaults[k], o.help, o.choices, o.item, o.nullable) if k in defaults else o)
            for k, o in group.items()}


def pose_data(**defaults: Any) -> Schema:
    """Where 3D poses come from and which subjects / frames are used."""
    return _with({
        "data_dir": opt(str, "synthetic", "h5-annotation data dir (cameras.h5 + S*/MyPoses/3D_positions), or "
                                          "'synthetic' for the built-in data"),
        "cache_dir": opt(str, "cache", "where processed arrays, the built-in synthetic data and rendered images "
                                       "are cached"),
        "synthetic_size": opt(str, "default", "size of the built-in synthetic data", choices=("default", "tiny")),
        "train_subjects": opt(list, [1, 5, 6, 7, 8], "training subjects", item=int),
        "test_subjects": opt(list, [9, 11], "test subjects", item=int),
        "stride": opt(int, 1, "keep every n-th training frame of each sequence"),
        "test_stride": opt(int, 1, "keep every n-th test frame of each sequence"),
    }, defaults)


def optimisation(**defaults: Any) -> Schema:
    """Length, batch, learning-rate policy and update constraints of training."""
    return _with({
        "epochs": opt(int, 16, "training epochs"),
        "iterations": opt(int, None, "total training steps (null: epochs x steps per epoch)", nullable=True),
        "max_train_minutes": opt(float, None, "stop training after this wall time (the schedule still assumes "
                                              "the full length)", nullable=True),
        "batch_size": opt(int, 512, "training batch size"),
        "eval_batch_size": opt(int, 8192, "batch size for evaluation"),
        "lr": opt(float, 2e-3, "peak learning rate"),
        "lr_schedule": opt(str, "cosine", "learning-rate schedule: cosine (warm-up, cosine to 1 %), staircase "
                                          "(Ronchi), exponential (Martinez), constant, two_phase (MeTRo)",
                           choices=SCHEDULES),
        "lr_decay": opt(float, 0.96, "decay factor of the staircase/exponential schedules"),
        "lr_decay_steps": opt(int, 100000, "steps per decay of the staircase/exponential schedules"),
        "warmup_steps": opt(int, 200, "linear warm-up steps of the cosine schedule"),
        "phase2_fraction": opt(float, 2 / 27, "fraction of steps in the low-LR second phase of two_phase "
                                              "(eta0/30 * 0.3^t)"),
        "weight_decay": opt(float, 0.0, "weight decay"),
        "grad_clip": opt(float, 1.0, "global gradient-norm clip (null: off)", nullable=True),
        "max_norm": opt(float, None, "weight max-norm: every linear layer's weight matrix is rescaled to this "
                                     "Frobenius norm after each step if larger (Martinez et al.: 1; null: off)",
                        nullable=True),
    }, defaults)


def run(**defaults: Any) -> Schema:
    """The run directory, reproducibility, hardware and reporting cadence."""
    return _with({
        "out_dir": opt(str, "runs/run", "run directory (checkpoints, config.yaml, results.json, tb/)"),
        "seed": opt(int, 0, "random seed"),
        "load": opt(str, None, "initialise weights from this run dir or checkpoint", nullable=True),
        "eval_only": opt(bool, False, "only evaluate the model given by `load`"),
        "device": opt(str, "auto", "compute device", choices=("auto", "cpu", "cuda")),
        "threads": opt(int, None, "CPU threads for torch (null: torch default)", nullable=True),
        "compile": opt(bool, False, "torch.compile the training model (falls back to eager if compilation fails)"),
        "eval_every": opt(int, 1, "evaluate every n epochs (the end of training is always evaluated)"),
        "log_every": opt(int, 100, "log training scalars and check the loss for NaN/inf every n steps (and at "
                                   "every epoch end)"),
        "checkpoint_every": opt(int, None, "also write last.pt every n steps (it is always written at every "
                                           "epoch end)", nullable=True),
        "tensorboard": opt(bool, True, "write TensorBoard scalars under out_dir/tb"),
        "progress": opt(bool, True, "show a progress bar on interactive terminals"),
    }, defaults)


# Keys that may change between a run and its --resume without changing what is computed.
RESUME_FREE_KEYS = frozenset({"epochs", "max_train_minutes", "progress", "tensorboard", "threads",
                              "device", "log_every", "checkpoint_every", "eval_every", "eval_batch_size",
                              "figure", "save_predictions"})
