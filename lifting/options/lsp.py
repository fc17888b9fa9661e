"""Config schema of the LSP relative-depth pipeline (`main_lsp.py`).

Defaults follow Ronchi et al.'s LSP runs: a relative model trained from scratch for 100 epochs on
the crowd depth-order labels; fine-tuning an H36M `lsp_14` run is `load=<run dir>` with 25 epochs.
"""

from lifting.config import opt
from lifting.options import common

SCHEMA = {
    # data
    "rel_depth_json": opt(str, "../shared/data/lsp/relative_depth_lsp_v1.json",
                          "the 'Relative Depth LSP Dataset' label file (relative_depth_lsp_v1.json)"),
    "amt_train_data": opt(float, 1.0, "fraction of LSP training images kept (drawn once without replacement)"),
    # relative model trained from scratch (ignored with `load`: the loaded run's architecture is used)
    "linear_size": opt(int, 1024, "width of the residual MLP"),
    "num_stage": opt(int, 1, "number of residual blocks"),
    "dropout": opt(float, 0.5, "dropout probability after every ReLU"),
    "unnorm_init": opt(float, 100.0, "initial value of the per-coordinate output multiplier"),
    "scale_range": opt(float, 1.0, "upper bound of the predicted scaled-orthographic scale"),
    # losses
    "distance_multiplier": opt(float, 2.5, "kappa of the pairwise ranking loss"),
    "loss_relative": opt(float, 1.0, "weight of the relative depth loss"),
    "loss_reproj": opt(float, 0.1, "weight of the scaled-orthographic reprojection loss"),
    "loss_root": opt(float, 1.0, "weight of the root (neck) loss"),
    "loss_symm": opt(float, 1.0, "weight of the limb-proportion loss; 0 disables it"),
    "limb_type": opt(str, "avg_person", "reference limb lengths: constants, or the H36M averages stored in `load`",
                     choices=("avg_person", "avg_human36")),
    # optimisation (a fine-tuned run continues the loaded run's optimiser state and step count)
    **common.optimisation(epochs=100, batch_size=64, eval_batch_size=4096, lr=1e-3, lr_schedule="staircase",
                          warmup_steps=0),
    # run
    **common.run(out_dir="runs/lsp", log_every=10),
    "save_predictions": opt(bool, True, "write predictions.npz (lifted 3D of every test image) for plots"),
}
