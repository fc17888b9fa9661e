"""Config schema of the Human3.6M lifting pipeline (`main_human36.py`). Defaults = the standard protocol."""

from lifting.config import opt
from lifting.options import common

NOISE_TYPES = ("none", "uniform_linear", "uniform_radial", "normal", "detections", "npz_detections")

SCHEMA = {
    # data
    **common.pose_data(),
    "data_format": opt(str, "h5", "layout of data_dir / test_data_dir: 'h5' (cameras.h5 + S*/MyPoses/3D_positions) or "
                                  "'videopose3d' (data_3d_h36m.npz, world metres, with the built-in Human3.6M "
                                  "calibration)", choices=("h5", "videopose3d")),
    "test_data_dir": opt(str, None, "data dir of the test subjects (null: same as data_dir)", nullable=True),
    "actions": opt((str, list), "all", "'all', one action name, or a list of names"),
    "cameras": opt(list, [1, 2, 3, 4], "camera indices (1..4) to use", item=int),
    "skeleton": opt(str, "h36m_17", "joint set of the 3D outputs (and of the 2D inputs unless input_skeleton)",
                    choices=("h36m_17", "h36m_16", "lsp_14")),
    "input_skeleton": opt(str, None, "joint set of the 2D inputs (null: skeleton); Martinez et al. lift the 16 "
                                     "joints h36m_16 to h36m_17", choices=("h36m_17", "h36m_16", "lsp_14"),
                          nullable=True),
    "amt_train_data": opt(float, 1.0, "fraction of training samples kept (drawn once without replacement)"),
    "train_noise_type": opt(str, "none", "2D noise added to training inputs", choices=NOISE_TYPES),
    "train_noise_amount": opt(float, 0.0, "noise amount: px for uniform_*, variance px^2 for normal"),
    "test_noise_type": opt(str, "none", "2D noise added to test inputs", choices=NOISE_TYPES),
    "test_noise_amount": opt(float, 0.0, "noise amount: px for uniform_*, variance px^2 for normal"),
    "detections_dir": opt(str, None, "root of stacked-hourglass detection files (for noise type 'detections')",
                          nullable=True),
    "detections_file": opt(str, None, "VideoPose3D 2D file (positions_2d, e.g. data_2d_h36m_cpn_ft_h36m_dbb.npz) whose "
                                      "2D replace the inputs for noise type 'npz_detections'", nullable=True),
    "predictions_2d": opt(str, None, "predictions .npz whose joints2d_px replace the test 2D inputs", nullable=True),
    "in_dropout_p": opt(float, 0.0, "probability of dropping a 2D input joint (train and test)"),
    # model
    "model": opt(str, "supervised", "3D-supervised or relative-depth weakly supervised",
                 choices=("supervised", "relative")),
    "linear_size": opt(int, 1024, "width of the residual MLP"),
    "num_stage": opt(int, 2, "number of residual blocks"),
    "dropout": opt(float, 0.25, "dropout probability after every ReLU (Martinez et al.: 0.5)"),
    "batch_norm": opt(bool, True, "BatchNorm after every hidden linear layer"),
    "predict_root": opt(bool, True, "the network outputs the root joint too (false: only the non-root joints, "
                                    "the root is 0 as in Martinez et al.)"),
    "unnorm_init": opt(float, 100.0, "initial value of the relative model's per-coordinate output multiplier"),
    "scale_range": opt(float, 1.0, "upper bound of the predicted reprojection scale (0.001 for weak perspective)"),
    # losses
    "sup_loss": opt(str, "mm", "supervised loss: MSE in mm^2 (Ronchi) or on standardised coordinates (Martinez)",
                    choices=("standardized", "mm")),
    "num_pairs": opt((int, str), 1, "relative pairs kept per sample: an integer or 'all'", nullable=True),
    "tolerance_mm": opt(float, 0.0, "depth differences within this are labelled 'equal'"),
    "distance_multiplier": opt(float, 2.5, "kappa of the pairwise ranking loss"),
    "rel_labels_noise_prob": opt((float, str), 0.0,
                                 "probability of flipping a relative label, or 'mturk' (distance-dependent)"),
    "reprojection": opt(str, "scaled_orthographic", "reprojection loss of the relative model",
                        choices=("scaled_orthographic", "weak_perspective", "none")),
    "loss_relative": opt(float, 1.0, "weight of the relative depth loss"),
    "loss_reproj": opt(float, 0.1, "weight of the reprojection loss"),
    "loss_root": opt(float, 1.0, "weight of the root loss"),
    "loss_symm": opt(float, 1.0, "weight of the limb-proportion (skeleton) loss; 0 disables it"),
    "limb_type": opt(str, "avg_human36", "reference limb lengths of the skeleton loss",
                     choices=("avg_human36", "avg_person", "gt")),
    # optimisation
    **common.optimisation(),
    # run
    **common.run(out_dir="runs/h36m", compile=True, log_every=100),
    "save_predictions": opt(bool, False, "write predictions.npz (poses, per-joint PA errors, keys) for plots"),
    "figure": opt(bool, False, "draw figure.png of a few test predictions after training"),
}
