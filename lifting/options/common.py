"""Option groups every entry point shares (run, data, optimisation), defined once so one concept has one
name everywhere. An entry point composes its schema from these plus its own keys and may change a default.

Upper bounds that are not physical limits are sanity limits: far beyond any sensible run, they turn a typo
(an extra zero or two) into an error at load instead of an out-of-memory crash or a run that never ends.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lifting.config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, PROBABILITY, Option, opt
from lifting.datasets.h36m import SUBJECTS

SCHEDULES = ("cosine", "staircase", "exponential", "constant", "two_phase")
SUBJECT_LIST = {"item": int, "choices": SUBJECTS, "nonempty": True, "unique": True}
CAMERA_LIST = {"item": int, "minimum": 1, "maximum": 4, "nonempty": True, "unique": True}
MAX_STRIDE = 100_000      # frames; longer than any Human3.6M recording even at 50 fps
MAX_BATCH = 2 ** 20
MAX_STEPS = 10 ** 9


def _with(group: dict[str, Option], defaults: dict[str, Any]) -> dict[str, Option]:
    unknown = set(defaults) - set(group)
    if unknown:
        raise KeyError(f"no such shared option: {sorted(unknown)}")
    return {k: replace(o, default=defaults[k]) if k in defaults else o for k, o in group.items()}


def pose_data(**defaults: Any) -> dict[str, Option]:
    """Where 3D poses come from and which subjects / frames are used."""
    return _with({
        "data_dir": opt(str, "synthetic", "h5-annotation data dir (cameras.h5 + S*/MyPoses/3D_positions), or "
                                          "'synthetic' for the built-in data"),
        "cache_dir": opt(str, "cache", "where processed arrays, the built-in synthetic data and rendered images "
                                       "are cached"),
        "synthetic_size": opt(str, "default", "size of the built-in synthetic data", choices=("default", "tiny")),
        "train_subjects": opt(list, [1, 5, 6, 7, 8], "training subjects", **SUBJECT_LIST),
        "test_subjects": opt(list, [9, 11], "test subjects", **SUBJECT_LIST),
        "stride": opt(int, 1, "keep every n-th training frame of each sequence (frame 0 always)",
                      **AT_LEAST_ONE, maximum=MAX_STRIDE),
        "test_stride": opt(int, 1, "keep every n-th test frame of each sequence (frame 0 always)",
                           **AT_LEAST_ONE, maximum=MAX_STRIDE),
    }, defaults)


def optimisation(**defaults: Any) -> dict[str, Option]:
    """Length, batch, learning-rate policy and update constraints of training."""
    return _with({
        "epochs": opt(int, 16, "training epochs", **NON_NEGATIVE, maximum=100_000),
        "iterations": opt(int, None, "total training steps (null: epochs x steps per epoch)", nullable=True,
                          **AT_LEAST_ONE, maximum=MAX_STEPS),
        "max_train_minutes": opt(float, None, "stop training after this wall time (the schedule still assumes "
                                              "the full length)", nullable=True, **POSITIVE),
        "batch_size": opt(int, 512, "training batch size", **AT_LEAST_ONE, maximum=MAX_BATCH),
        "eval_batch_size": opt(int, 8192, "batch size for evaluation", **AT_LEAST_ONE, maximum=MAX_BATCH),
        "lr": opt(float, 2e-3, "peak learning rate", **POSITIVE, maximum=1),
        "lr_schedule": opt(str, "cosine", "learning-rate schedule: cosine (warm-up, cosine to 1 %), staircase "
                                          "(Ronchi), exponential (Martinez), constant, two_phase (MeTRo)",
                           choices=SCHEDULES),
        "lr_decay": opt(float, 0.96, "decay factor of the staircase/exponential schedules", **POSITIVE, maximum=1),
        "lr_decay_steps": opt(int, 100000, "steps per decay of the staircase/exponential schedules",
                              **AT_LEAST_ONE, maximum=MAX_STEPS),
        "warmup_steps": opt(int, 200, "linear warm-up steps of the cosine schedule", **NON_NEGATIVE,
                            maximum=MAX_STEPS),
        "phase2_fraction": opt(float, 2 / 27, "fraction of steps in the low-LR second phase of two_phase "
                                              "(eta0/30 * 0.3^t)", **PROBABILITY),
        "weight_decay": opt(float, 0.0, "weight decay", **PROBABILITY),
        "grad_clip": opt(float, 1.0, "global gradient-norm clip (null: off)", nullable=True, **POSITIVE),
        "max_norm": opt(float, None, "weight max-norm: every linear layer's weight matrix is rescaled to this "
                                     "Frobenius norm after each step if larger (Martinez et al.: 1; null: off)",
                        nullable=True, **POSITIVE),
    }, defaults)


def run(**defaults: Any) -> dict[str, Option]:
    """The run directory, reproducibility, hardware and reporting cadence."""
    return _with({
        "out_dir": opt(str, "runs/run", "run directory (checkpoints, config.yaml, results.json, tb/)"),
        "seed": opt(int, 0, "random seed", **NON_NEGATIVE, maximum=2 ** 32 - 1),
        "load": opt(str, None, "initialise weights from this run dir or checkpoint", nullable=True),
        "eval_only": opt(bool, False, "only evaluate the model given by `load`"),
        "device": opt(str, "auto", "compute device", choices=("auto", "cpu", "cuda")),
        "threads": opt(int, None, "CPU threads for torch (null: torch default)", nullable=True, **AT_LEAST_ONE,
                       maximum=1024),
        "compile": opt(bool, False, "torch.compile the training model (falls back to eager if compilation fails)"),
        "eval_every": opt(int, 1, "evaluate every n epochs (the end of training is always evaluated)",
                          **AT_LEAST_ONE, maximum=100_000),
        "log_every": opt(int, 100, "log training scalars and check the loss for NaN/inf every n steps (and at "
                                   "every epoch end)", **AT_LEAST_ONE, maximum=MAX_STEPS),
        "checkpoint_every": opt(int, None, "also write last.pt every n steps (it is always written at every "
                                           "epoch end)", nullable=True, **AT_LEAST_ONE, maximum=MAX_STEPS),
        "tensorboard": opt(bool, True, "write TensorBoard scalars under out_dir/tb"),
        "progress": opt(bool, True, "show a progress bar on interactive terminals"),
    }, defaults)


# Keys that may change between a run and its --resume without changing what is computed (out_dir: a run folder
# moved or copied elsewhere resumes there).
RESUME_FREE_KEYS = frozenset({"out_dir", "epochs", "max_train_minutes", "progress", "tensorboard", "threads",
                              "device", "log_every", "checkpoint_every", "eval_every", "eval_batch_size",
                              "figure", "save_predictions"})


# ---- cross-key rules (see `lifting.config.Schema`) ----

def eval_only_needs_load(cfg: dict[str, Any]) -> str | None:
    """eval_only needs `load`: there is nothing else to evaluate."""
    if cfg["eval_only"] and not cfg["load"]:
        return "eval_only: true needs load (the run dir or checkpoint to evaluate)"
    return None


def warmup_within_iterations(cfg: dict[str, Any]) -> str | None:
    """With the cosine schedule and a given `iterations`, warmup_steps is fewer than iterations."""
    if cfg["lr_schedule"] == "cosine" and cfg["iterations"] is not None and cfg["warmup_steps"] >= cfg["iterations"]:
        return (f"warmup_steps {cfg['warmup_steps']} >= iterations {cfg['iterations']}: the cosine schedule would "
                "never leave its warm-up; use fewer warmup_steps than iterations")
    return None


def disjoint_subjects(cfg: dict[str, Any]) -> str | None:
    """train_subjects and test_subjects are disjoint unless the test subjects come from another data dir (training
    on test subjects would report training error as test error); eval_only runs may test on any subject."""
    shared = sorted(set(cfg["train_subjects"]) & set(cfg["test_subjects"]))
    if shared and not cfg["eval_only"] and cfg.get("test_data_dir") in (None, cfg["data_dir"]):
        other = ", or set test_data_dir" if "test_data_dir" in cfg else ""
        return (f"train_subjects and test_subjects share S{shared[0]} of data_dir {cfg['data_dir']}: "
                f"test on other subjects{other}")
    return None


RUN_RULES = (eval_only_needs_load, warmup_within_iterations)
POSE_DATA_RULES = (disjoint_subjects,)
