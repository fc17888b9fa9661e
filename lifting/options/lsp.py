"""Config schema of the LSP relative-depth pipeline (`main_lsp.py`).

Defaults follow Ronchi et al.'s LSP runs: a relative model trained from scratch for 100 epochs on
the crowd depth-order labels; fine-tuning an H36M `lsp_14` run is `load=<run dir>` with 25 epochs.
"""

from lifting.config import opt

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
    # optimisation
    "epochs": opt(int, 100, "training epochs (0 with `load`: evaluate only)"),
    "batch_size": opt(int, 64, "training batch size (one annotated pair per item)"),
    "lr": opt(float, 1e-3, "Adam learning rate"),
    "lr_decay": opt(float, 0.96, "staircase decay factor"),
    "lr_decay_steps": opt(int, 100000, "steps per decay (continues the loaded run's step count)"),
    "grad_clip": opt(float, 1.0, "global gradient-norm clip (null: off)", nullable=True),
    "eval_batch_size": opt(int, 4096, "batch size for evaluation"),
    # run
    "out_dir": opt(str, "runs/lsp", "run directory (checkpoints, config.yaml, results.json, tb/)"),
    "seed": opt(int, 0, "random seed (data order, subsampling, dropout)"),
    "load": opt(str, None, "initialise from this H36M run dir or checkpoint (skeleton lsp_14)", nullable=True),
    "eval_only": opt(bool, False, "only evaluate the model given by `load`"),
    "device": opt(str, "auto", "compute device", choices=("auto", "cpu", "cuda")),
    "num_threads": opt(int, None, "CPU threads for torch (null: torch default)", nullable=True),
    "save_predictions": opt(bool, True, "write predictions.npz (lifted 3D of every test image) for plots"),
    "tensorboard": opt(bool, True, "write TensorBoard scalars under out_dir/tb"),
    "progress": opt(bool, True, "show a progress bar on interactive terminals"),
}
