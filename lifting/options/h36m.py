"""Config schema of the Human3.6M lifting pipeline (`main_human36.py`). Defaults = the standard protocol."""

from typing import Any

from lifting.config import NON_NEGATIVE, POSITIVE, PROBABILITY, Schema, opt
from lifting.datasets.h36m import ACTIONS
from lifting.geometry.skeletons import get_skeleton
from lifting.options import common

NOISE_TYPES = ("none", "uniform_linear", "uniform_radial", "normal", "normal_random_sigma", "detections",
               "npz_detections")
MAX_MISSING = 9       # COCO-17 has 13 Human3.6M keypoints and run_model.py needs 4 present
SKELETONS = ("h36m_17", "h36m_16", "lsp_14")
MAX_NOISE = 1e6       # px (uniform) or px^2 (normal): far beyond the 1000 px images
# Keys that only the relative model reads, with the value that means "not used".
PAIR_KEYS = {"tolerance_mm": 0.0, "rel_labels_noise_prob": 0.0, "pairs_per_step": 1}

OPTIONS = {
    # data
    **common.pose_data(),
    "data_format": opt(str, "h5", "layout of data_dir / test_data_dir: 'h5' (cameras.h5 + S*/MyPoses/3D_positions) or "
                                  "'videopose3d' (data_3d_h36m.npz, world metres, with the built-in Human3.6M "
                                  "calibration)", choices=("h5", "videopose3d")),
    "test_data_dir": opt(str, None, "data dir of the test subjects (null: same as data_dir)", nullable=True),
    "actions": opt((str, list), "all", "'all', one action name, or a list of names", item=str,
                   choices=("all", *ACTIONS), nonempty=True, unique=True),
    "cameras": opt(list, [1, 2, 3, 4], "camera indices (1..4) to use", **common.CAMERA_LIST),
    "skeleton": opt(str, "h36m_17", "joint set of the 3D outputs (and of the 2D inputs unless input_skeleton)",
                    choices=SKELETONS),
    "input_skeleton": opt(str, None, "joint set of the 2D inputs (null: skeleton); Martinez et al. lift the 16 "
                                     "joints h36m_16 to h36m_17", choices=SKELETONS, nullable=True),
    "amt_train_data": opt(float, 1.0, "fraction of training samples kept (drawn once without replacement)",
                          **POSITIVE, maximum=1),
    "train_noise_type": opt(str, "none", "2D noise added to training inputs", choices=NOISE_TYPES),
    "train_noise_amount": opt(float, 0.0, "noise amount: px for uniform_*, variance px^2 for normal, the largest "
                                          "per-pose std in px for normal_random_sigma", **NON_NEGATIVE,
                              maximum=MAX_NOISE),
    "test_noise_type": opt(str, "none", "2D noise added to test inputs", choices=NOISE_TYPES),
    "test_noise_amount": opt(float, 0.0, "noise amount: px for uniform_*, variance px^2 for normal, the largest "
                                         "per-pose std in px for normal_random_sigma", **NON_NEGATIVE,
                             maximum=MAX_NOISE),
    "train_missing_joints": opt(int, 0, "each training pose misses 0..this many random 2D keypoints (drawn per "
                                        "pose), filled on the nearest present joint as run_model.py fills missing "
                                        "keypoints (needs skeleton h36m_17)", **NON_NEGATIVE, maximum=MAX_MISSING),
    "train_coco17_p": opt(float, 0.0, "share of training poses whose 2D become COCO-17 keypoints (no eyes or ears) "
                                      "and are converted back as run_model.py converts COCO keypoints (needs "
                                      "skeleton h36m_17)", **PROBABILITY),
    "train_clean_p": opt(float, 0.0, "share of training poses with exact 2D (no noise, no missing keypoints; the "
                                     "COCO-17 share converts them too, as a perfect detector's COCO output), drawn "
                                     "per pose, so that a model made for detector output stays accurate on good "
                                     "keypoints", **PROBABILITY),
    "train_redraw": opt(bool, False, "draw the training inputs' noise, missing keypoints and COCO-17 share afresh "
                                     "each epoch (false: once, before training)"),
    "detections_dir": opt(str, None, "root of stacked-hourglass detection files (for noise type 'detections')",
                          nullable=True),
    "detections_file": opt(str, None, "VideoPose3D 2D file (positions_2d, e.g. data_2d_h36m_cpn_ft_h36m_dbb.npz) whose "
                                      "2D replace the inputs for noise type 'npz_detections'", nullable=True),
    "predictions_2d": opt(str, None, "predictions .npz whose joints2d_px replace the test 2D inputs", nullable=True),
    # training on the image estimator's outputs (evaluation is always against GT 3D)
    "train_predictions_2d": opt(str, None, "predictions .npz whose joints2d_px replace the training 2D inputs",
                                nullable=True),
    "train_targets_3d": opt(str, "gt", "3D targets of the supervised lifter: GT, or the estimator's root-relative 3D "
                                       "(joints3d_rootrel) of train_predictions_2d (then no GT 3D is used)",
                            choices=("gt", "predictions")),
    "pair_labels_from": opt(str, "gt", "depths the relative lifter's depth-order pair labels come from: GT, or the "
                                       "estimator's 3D in train_predictions_2d", choices=("gt", "predictions")),
    "in_dropout_p": opt(float, 0.0, "probability of zeroing a standardised 2D input joint (train and test)",
                        **NON_NEGATIVE, exclusive_maximum=1),
    "flip_augment": opt(bool, False, "train on each sample or its mirror image (x negated, left/right swapped), "
                                     "chosen at random per sample and step"),
    "weight_average": opt(float, None, "decay per step of a bias-corrected exponential moving average of the "
                                       "weights, which then evaluates and is saved (e.g. 0.999; null: off)",
                          nullable=True, **NON_NEGATIVE, exclusive_maximum=1),
    "flip_test": opt(bool, False, "average each test prediction with the mirrored prediction of the mirrored input"),
    # model
    "model": opt(str, "supervised", "3D-supervised or relative-depth weakly supervised",
                 choices=("supervised", "relative")),
    "linear_size": opt(int, 1024, "width of the residual MLP", minimum=1, maximum=16384),
    "num_stage": opt(int, 2, "number of residual blocks", **NON_NEGATIVE, maximum=64),
    "dropout": opt(float, 0.25, "dropout probability after every ReLU (Martinez et al.: 0.5)",
                   **NON_NEGATIVE, exclusive_maximum=1),
    "batch_norm": opt(bool, True, "BatchNorm after every hidden linear layer"),
    "predict_root": opt(bool, True, "the network outputs the root joint too (false: only the non-root joints, "
                                    "the root is 0 as in Martinez et al.)"),
    "unnorm_init": opt(float, 100.0, "initial value of the relative model's per-coordinate output multiplier",
                       **POSITIVE),
    "scale_range": opt(float, 1.0, "upper bound of the predicted reprojection scale (0.001 for weak perspective)",
                       **POSITIVE),
    # losses
    "sup_loss": opt(str, "mm", "supervised loss: MSE in mm^2 (Ronchi), on standardised coordinates (Martinez), "
                               "or the mean per-joint distance in mm (VideoPose3D)",
                    choices=("standardized", "mm", "mpjpe")),
    "pairs_per_step": opt(int, 1, "labelled pairs of each sample's kept pairs used per training step (the paper: 1)",
                          minimum=1, maximum=1000),
    "num_pairs": opt((int, str), 1, "relative pairs kept per sample: an integer (at most every pair of the "
                                    "skeleton) or 'all'", nullable=True, choices=("all",), minimum=1,
                         maximum=max(get_skeleton(n).num_joints * (get_skeleton(n).num_joints - 1) // 2
                                     for n in SKELETONS)),
    "tolerance_mm": opt(float, 0.0, "depth differences within this are labelled 'equal'", **NON_NEGATIVE),
    "distance_multiplier": opt(float, 2.5, "kappa of the pairwise ranking loss", **POSITIVE),
    "rel_labels_noise_prob": opt((float, str), 0.0,
                                 "probability of flipping a relative label, or 'mturk' (distance-dependent)",
                                 choices=("mturk",), **PROBABILITY),
    "reprojection": opt(str, "scaled_orthographic", "reprojection loss of the relative model",
                        choices=("scaled_orthographic", "weak_perspective", "none")),
    "loss_relative": opt(float, 1.0, "weight of the relative depth loss", **NON_NEGATIVE),
    "loss_reproj": opt(float, 0.1, "weight of the reprojection loss", **NON_NEGATIVE),
    "loss_root": opt(float, 1.0, "weight of the root loss", **NON_NEGATIVE),
    "loss_symm": opt(float, 1.0, "weight of the limb-proportion (skeleton) loss; 0 disables it", **NON_NEGATIVE),
    "limb_type": opt(str, "avg_human36", "reference limb lengths of the skeleton loss",
                     choices=("avg_human36", "avg_person", "gt")),
    # optimisation
    **common.optimisation(),
    # run
    **common.run(out_dir="runs/h36m", compile=True, log_every=100),
    "save_predictions": opt(bool, False, "write predictions.npz (poses, per-joint PA errors, keys) for plots"),
    "figure": opt(bool, False, "draw figure.png of a few test predictions after training"),
}


def actions_all_alone(cfg: dict[str, Any]) -> str | None:
    """'all' is an actions value on its own, not an item of a list of action names."""
    if isinstance(cfg["actions"], list) and "all" in cfg["actions"]:
        return f"actions: 'all' stands alone (actions: all), not in a list of names, got {cfg['actions']}"
    return None


def input_joints_exist(cfg: dict[str, Any]) -> str | None:
    """input_skeleton is a subset of skeleton (the 2D inputs are gathered from the output joint set)."""
    src, dst = get_skeleton(cfg["skeleton"]), get_skeleton(cfg["input_skeleton"] or cfg["skeleton"])
    missing = [n for n in dst.joint_names if n not in src.joint_names]
    if missing:
        return (f"input_skeleton {dst.name} needs joints skeleton {src.name} lacks ({', '.join(missing)}); "
                f"use an input joint set contained in {src.name}")
    return None


def pairs_fit_the_model(cfg: dict[str, Any]) -> str | None:
    """Pairs options (num_pairs, tolerance_mm, rel_labels_noise_prob) are left unset for the supervised model; the
    relative model has num_pairs, at most every joint pair of the skeleton, and not both a tolerance and label
    noise."""
    if cfg["model"] == "supervised":
        given = [k for k, unused in PAIR_KEYS.items() if cfg[k] != unused]
        if cfg["num_pairs"] not in (None, OPTIONS["num_pairs"].default):
            given.insert(0, "num_pairs")
        if given:
            return (f"{given[0]}: {cfg[given[0]]!r} is a relative-depth pairs option, but model is supervised "
                    "(trained on 3D poses); set model: relative or drop it")
        return None
    if cfg["num_pairs"] is None:
        return "num_pairs: the relative model needs num_pairs (an integer or 'all')"
    joints = get_skeleton(cfg["skeleton"]).num_joints
    most = joints * (joints - 1) // 2
    if isinstance(cfg["num_pairs"], int) and cfg["num_pairs"] > most:
        return (f"num_pairs: {cfg['num_pairs']} exceeds the {most} joint pairs of {cfg['skeleton']}; "
                "use at most that or 'all'")
    if cfg["tolerance_mm"] > 0 and cfg["rel_labels_noise_prob"] != 0.0:
        return (f"tolerance_mm {cfg['tolerance_mm']} and rel_labels_noise_prob {cfg['rel_labels_noise_prob']!r} "
                "cannot be combined; set one of them to 0")
    return None


def noise_fits(cfg: dict[str, Any]) -> str | None:
    """'detections' noise needs skeleton h36m_16 (the detections' joints); uniform_linear noise is whole px."""
    for split in ("train", "test"):
        kind, amount = cfg[f"{split}_noise_type"], cfg[f"{split}_noise_amount"]
        if kind == "detections" and cfg["skeleton"] != "h36m_16":
            return (f"{split}_noise_type: 'detections' needs skeleton: h36m_16 (the detections' joint set), "
                    f"got skeleton {cfg['skeleton']}")
        if kind == "uniform_linear" and not float(amount).is_integer():
            return f"{split}_noise_amount: uniform_linear noise is a whole number of px, got {amount}"
    return None


def detector_like_fits(cfg: dict[str, Any]) -> str | None:
    """Missing keypoints and the COCO-17 share act on Human3.6M-17 2D; redrawing needs something random to draw."""
    for key, off in (("train_missing_joints", 0), ("train_coco17_p", 0.0)):
        if cfg[key] != off and cfg["skeleton"] != "h36m_17":
            return f"{key}: {cfg[key]} needs skeleton: h36m_17 (run_model.py's joint set), got {cfg['skeleton']}"
    random = cfg["train_noise_type"] not in ("none", "detections", "npz_detections") \
        or cfg["train_missing_joints"] > 0 or cfg["train_coco17_p"] > 0
    if cfg["train_redraw"] and not random:
        return ("train_redraw: true needs a random training corruption (a synthetic train_noise_type, "
                "train_missing_joints or train_coco17_p)")
    return None


def estimator_outputs_given(cfg: dict[str, Any]) -> str | None:
    """train_targets_3d or pair_labels_from 'predictions' read train_predictions_2d; pair labels are the relative
    model's."""
    for key in ("train_targets_3d", "pair_labels_from"):
        if cfg[key] == "predictions" and not cfg["train_predictions_2d"]:
            return f"{key}: 'predictions' needs train_predictions_2d (the estimator's predictions file)"
    if cfg["pair_labels_from"] == "predictions" and cfg["model"] != "relative":
        return "pair_labels_from: 'predictions' is a relative-depth pairs option, but model is supervised"
    return None


SCHEMA = Schema(OPTIONS, rules=(*common.RUN_RULES, *common.POSE_DATA_RULES, actions_all_alone, input_joints_exist,
                                pairs_fit_the_model, noise_fits, detector_like_fits, estimator_outputs_given))
