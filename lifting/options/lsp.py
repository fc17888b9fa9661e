"""Config schema of the LSP relative-depth pipeline (`main_lsp.py`).

Defaults follow Ronchi et al.'s LSP runs: a relative model trained from scratch for 100 epochs on
the crowd depth-order labels; fine-tuning an H36M `lsp_14` run is `load=<run dir>` with 25 epochs.
"""

from dataclasses import replace
from typing import Any

from lifting.config import NON_NEGATIVE, POSITIVE, Schema, opt
from lifting.options import common
from lifting.options import h36m as h36m_options

# The scratch model is described in the H36M lifting schema, so its keys share that schema's ranges.
_ARCH = h36m_options.OPTIONS

OPTIONS = {
    # data
    "rel_depth_json": opt(str, "../shared/data/lsp/relative_depth_lsp_v1.json",
                          "the 'Relative Depth LSP Dataset' label file (relative_depth_lsp_v1.json)"),
    "amt_train_data": opt(float, 1.0, "fraction of LSP training images kept (drawn once without replacement)",
                          **POSITIVE, maximum=1),
    # relative model trained from scratch (ignored with `load`: the loaded run's architecture is used)
    "linear_size": replace(_ARCH["linear_size"], default=1024),
    "num_stage": replace(_ARCH["num_stage"], default=1),
    "dropout": replace(_ARCH["dropout"], default=0.5, help="dropout probability after every ReLU"),
    "unnorm_init": replace(_ARCH["unnorm_init"], help="initial value of the per-coordinate output multiplier"),
    "scale_range": replace(_ARCH["scale_range"], help="upper bound of the predicted scaled-orthographic scale"),
    # losses
    "distance_multiplier": opt(float, 2.5, "kappa of the pairwise ranking loss", **POSITIVE),
    "loss_relative": opt(float, 1.0, "weight of the relative depth loss", **NON_NEGATIVE),
    "loss_reproj": opt(float, 0.1, "weight of the scaled-orthographic reprojection loss", **NON_NEGATIVE),
    "loss_root": opt(float, 1.0, "weight of the root (neck) loss", **NON_NEGATIVE),
    "loss_symm": opt(float, 1.0, "weight of the limb-proportion loss; 0 disables it", **NON_NEGATIVE),
    "limb_type": opt(str, "avg_person", "reference limb lengths: constants, or the H36M averages stored in `load`",
                     choices=("avg_person", "avg_human36")),
    # optimisation (a fine-tuned run continues the loaded run's optimiser state and step count)
    **common.optimisation(epochs=100, batch_size=64, eval_batch_size=4096, lr=1e-3, lr_schedule="staircase",
                          warmup_steps=0),
    # run
    **common.run(out_dir="runs/lsp", log_every=10),
    "save_predictions": opt(bool, True, "write predictions.npz (lifted 3D of every test image) for plots"),
}


def h36m_limbs_need_load(cfg: dict[str, Any]) -> str | None:
    """Training with limb_type avg_human36 needs `load`: the H36M average limb lengths come from that run."""
    training = not cfg["eval_only"] and cfg["epochs"] > 0
    if training and cfg["limb_type"] == "avg_human36" and cfg["loss_symm"] > 0 and not cfg["load"]:
        return ("limb_type: 'avg_human36' needs load (an H36M lsp_14 run, whose average limb lengths it uses); "
                "use avg_person to train from scratch")
    return None


SCHEMA = Schema(OPTIONS, rules=(*common.RUN_RULES, h36m_limbs_need_load))
