"""Config schema of the MeTRo/MeTRAbs image estimator (`main_metro.py`). Defaults = the GPU recipe at 256 px."""

from typing import Any

from lifting.config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, PROBABILITY, Schema, opt
from lifting.models.backbones import BACKBONES
from lifting.models.backbones import STRIDES as BACKBONE_STRIDES
from lifting.options import common

STRIDES = (32, 16, 8, 4)

OPTIONS = {
    # data
    "data_source": opt(str, "online", "'online': render crops on the training device from 3D poses; "
                       "'rendered': read a COCO-layout image dataset (rendered first if missing)",
                       choices=("online", "rendered")),
    **common.pose_data(train_subjects=[1, 5, 6, 7], test_subjects=[8], stride=5, test_stride=64),
    "image_dir": opt(str, None, "COCO-layout image dataset for data_source=rendered (null: rendered into cache_dir)",
                     nullable=True),
    "max_test_crops": opt(int, None, "evaluate on at most this many test crops (evenly spaced; null: all)",
                          nullable=True, **AT_LEAST_ONE, maximum=10 ** 9),
    "crop_size": opt(int, 256, "crop side S in px (a multiple of the output strides)", minimum=8, maximum=4096),
    "render_size": opt(int, 256, "image side of a rendered dataset (data_source=rendered)", minimum=16,
                       maximum=8192),
    "augment": opt(bool, True, "scale/rotation/shift/flip/appearance augmentation of training crops"),
    "truncation_prob": opt(float, 0.3, "probability of a partial-body (truncated) training crop, also without augment",
                           **PROBABILITY),
    "crowd_prob": opt(float, 0.0, "data_source=online: share of training crops with 1-2 other people placed beside, "
                                  "behind or in front of the person on the same floor (labels stay the person's)",
                      **PROBABILITY),
    "num_workers": opt(int, 0, "DataLoader worker processes (data_source=rendered)", **NON_NEGATIVE, maximum=256),
    # model
    "backbone": opt(str, "resnet50", "torchvision trunk from random weights (MobileNetV3: output stride 32 or 16)",
                    choices=BACKBONES),
    "output_stride": opt(int, 32, "backbone output stride for training", choices=STRIDES),
    "test_output_stride": opt(int, None, "output stride at test time, same weights (null: output_stride)",
                              choices=STRIDES, nullable=True),
    "depth_bins": opt(int, 8, "depth bins D of the metric volume", **AT_LEAST_ONE, maximum=1024),
    "box_size": opt(float, 2200.0, "metric side B_box of the heatmap cube in mm", **POSITIVE),
    "backbone_weights": opt(str, None, "local torchvision state_dict of the backbone's architecture to initialise "
                                       "it (never downloaded)", nullable=True),
    # losses / reconstruction
    "loss2d_weight": opt(float, 1.0, "weight of the 2D-head loss", **NON_NEGATIVE),
    "abs_weight": opt(float, 0.1, "weight of the absolute-pose loss once enabled", **NON_NEGATIVE),
    "abs_start": opt(int, 5000, "step from which the absolute-pose loss is on", **NON_NEGATIVE,
                     maximum=common.MAX_STEPS),
    "weak_steps": opt(int, 500, "steps using weak-perspective reconstruction before full perspective",
                      **NON_NEGATIVE, maximum=common.MAX_STEPS),
    "ridge": opt(float, 1e-2, "ridge of the normalised least-squares root solve", **NON_NEGATIVE),
    "mix_3d_inside_fov": opt(float, 0.5, "test-time weight m of the 3D head for joints inside the FOV",
                             **PROBABILITY),
    "flip_tta": opt(bool, False, "average with the horizontally flipped crop at test/predict time"),
    # optimisation: AdamW whose decoupled decay per step is weight_decay * (eta_t / eta0) / sqrt(T)
    **common.optimisation(epochs=27, batch_size=32, eval_batch_size=64, lr=1e-4, lr_schedule="two_phase",
                          weight_decay=3e-3, grad_clip=None),
    # run
    **common.run(out_dir="runs/metro", seed=1, threads=2, log_every=50, checkpoint_every=500),
    "amp": opt(bool, True, "bfloat16 autocast of backbone and head on CUDA (decoding stays float32)"),
    "channels_last": opt(bool, True, "channels-last memory format on CUDA"),
}


def crop_fits_stride(cfg: dict[str, Any]) -> str | None:
    """crop_size is a multiple of output_stride (and test_output_stride) with at least a 2x2 heatmap."""
    for key in ("output_stride", "test_output_stride"):
        s = cfg[key]
        if s is not None and (cfg["crop_size"] % s or cfg["crop_size"] // s < 2):
            return f"crop_size {cfg['crop_size']} must be a multiple of {key} {s} giving at least a 2x2 heatmap"
    return None


def stride_fits_backbone(cfg: dict[str, Any]) -> str | None:
    """MobileNetV3 trunks run at output stride 32 or 16 only."""
    allowed = BACKBONE_STRIDES[cfg["backbone"]]
    for key in ("output_stride", "test_output_stride"):
        if cfg[key] is not None and cfg[key] not in allowed:
            return f"{key} {cfg[key]}: backbone {cfg['backbone']} runs at output stride {' or '.join(map(str, allowed))}"
    return None


def crowd_is_online(cfg: dict[str, Any]) -> str | None:
    """crowd_prob > 0 needs data_source online (other people are rendered into the crops on the fly)."""
    if cfg["crowd_prob"] > 0 and cfg["data_source"] != "online":
        return (f"crowd_prob {cfg['crowd_prob']} needs data_source: online (data_source is {cfg['data_source']}); "
                f"set crowd_prob: 0 or data_source: online")
    return None


def image_dir_is_read(cfg: dict[str, Any]) -> str | None:
    """image_dir is given only with data_source rendered (online crops never read it)."""
    if cfg["image_dir"] is not None and cfg["data_source"] != "rendered":
        return (f"image_dir {cfg['image_dir']} is only read with data_source: rendered (data_source is "
                f"{cfg['data_source']}); set data_source: rendered or drop image_dir")
    return None


SCHEMA = Schema(OPTIONS, rules=(*common.RUN_RULES, *common.POSE_DATA_RULES, crop_fits_stride, stride_fits_backbone,
                                image_dir_is_read, crowd_is_online))
