"""Config schema of RootNet (`main_rootnet.py`). Defaults = the paper's recipe at 256 px (ResNet-50, Adam 1e-3,
divided by 10 after 17 of 20 epochs, batch 32, rotation/flip/colour augmentation)."""

from dataclasses import replace

from lifting.config import AT_LEAST_ONE, POSITIVE, Schema, opt
from lifting.metrics import DEPTH_BIN_EDGES_MM
from lifting.options import common
from lifting.options import metro as _metro

OPTIONS = {
    # data: the estimator's crop sources, so its crop keys mean the same here
    "data_source": _metro.SCHEMA["data_source"],
    **common.pose_data(train_subjects=[1, 5, 6, 7], test_subjects=[8], stride=5, test_stride=64),
    **{k: _metro.SCHEMA[k] for k in ("image_dir", "max_test_crops", "crop_size", "render_size", "num_workers")},
    "augment": opt(bool, True, "RootNet augmentation of training crops: roll N(0,1)*30 deg clipped to +-60 with "
                               "probability 0.6, flip, per-channel colour scale U(0.8, 1.2) (k is unchanged)"),
    "truncation_prob": replace(_metro.SCHEMA["truncation_prob"], default=0.0),
    "crowd_prob": _metro.SCHEMA["crowd_prob"],
    # model
    "backbone": replace(_metro.SCHEMA["backbone"], help="torchvision trunk from random weights (output stride 32)"),
    "backbone_weights": _metro.SCHEMA["backbone_weights"],
    "head_channels": opt(int, 256, "channels of the three transposed convolutions of the xy branch",
                         **AT_LEAST_ONE, maximum=4096),
    # distance prior
    "bbox_real": opt(list, [2000.0, 2000.0], "real size [width, height] of the processed person box in the depth "
                                             "unit (mm), the A_real of k = sqrt(f_x f_y A_real / A_img)", item=float,
                     nonempty=True, **POSITIVE, maximum=1e6),
    "assumed_focal_px": opt(float, None, "--predict: ignore the dataset's intrinsics and assume this focal length "
                                         "(px, principal point at the image centre): focal-normalised depths, "
                                         "converted by depth * sqrt(f_x f_y) / assumed_focal_px", nullable=True,
                            **POSITIVE, maximum=1e6),
    "depth_bins": opt(list, list(DEPTH_BIN_EDGES_MM), "edges (mm) of the true-root-depth bins MRPE is also reported "
                                                      "in", item=float, nonempty=True, unique=True, minimum=0,
                      maximum=1e6),
    # optimisation: Adam
    **common.optimisation(epochs=20, batch_size=32, eval_batch_size=64, lr=1e-3, lr_schedule="staircase",
                          lr_decay=0.1, grad_clip=None),
    "lr_drop_fraction": opt(float, 17 / 20, "staircase: one decay by lr_decay after this fraction of the training "
                                            "steps (RootNet: epoch 17 of 20); null: every lr_decay_steps",
                            nullable=True, exclusive_minimum=0, maximum=1),
    # run
    **common.run(out_dir="runs/rootnet", seed=1, threads=2, log_every=50, checkpoint_every=500),
    "amp": opt(bool, True, "bfloat16 autocast of backbone and heads on CUDA (soft-argmax, depth and loss stay "
                           "float32)"),
    "channels_last": opt(bool, True, "channels-last memory format on CUDA"),
}


def bbox_real_is_a_size(cfg) -> str | None:
    """bbox_real is [width, height]: two values."""
    if len(cfg["bbox_real"]) != 2:
        return f"bbox_real must be [width, height] in mm, got {len(cfg['bbox_real'])} values {cfg['bbox_real']}"
    return None


SCHEMA = Schema(OPTIONS, rules=(*common.RUN_RULES, *common.POSE_DATA_RULES, _metro.image_dir_is_read,
                                _metro.crowd_is_online, bbox_real_is_a_size))
