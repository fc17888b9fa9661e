"""Config schema of the person detector (`main_detector.py`): FCOS on a small trunk from random weights, trained on
multi-person scenes rendered on the fly from the training subjects' poses and tested on a fixed set of scenes
rendered from the test subjects' poses."""

from lifting.config import AT_LEAST_ONE, NON_NEGATIVE, PROBABILITY, Schema, opt
from lifting.models.detector import TRUNKS
from lifting.options import common

OPTIONS = {
    # data: scenes drawn from the subjects' world poses (`lifting.synth.scenes`)
    **common.pose_data(train_subjects=[1, 5, 6, 7], test_subjects=[8], stride=5, test_stride=10),
    "image_width": opt(int, 256, "scene image width, px", minimum=32, maximum=4096),
    "image_height": opt(int, 192, "scene image height, px", minimum=32, maximum=4096),
    "min_people": opt(int, 1, "fewest people in a scene", minimum=1, maximum=16),
    "max_people": opt(int, 4, "most people in a scene", minimum=1, maximum=16),
    "distance_mm": opt(list, [2000.0, 9000.0], "[min, max] ground distance of a person from the camera, mm",
                       item=float, nonempty=True, minimum=500, maximum=50_000),
    "scene_dir": opt(str, None, "train and test on the scenes render_dataset.py --scenes wrote here (splits "
                                "S<train_subjects> and S<test_subjects>, e.g. S1_5_6_7 and S8) instead of rendering "
                                "them on the fly", nullable=True),
    "scenes_per_epoch": opt(int, 800, "training scenes per epoch (each one drawn and rendered anew)",
                            **AT_LEAST_ONE, maximum=10 ** 8),
    "test_scenes": opt(int, 200, "test scenes (the same for every run: drawn from test_scene_seed)",
                       **AT_LEAST_ONE, maximum=10 ** 6),
    "test_scene_seed": opt(int, 8, "seed of the test scenes", **NON_NEGATIVE, maximum=2 ** 32 - 1),
    "flip_prob": opt(float, 0.5, "chance of a horizontal flip of a training scene", **PROBABILITY),
    # model
    "backbone": opt(str, "mobilenet_v3_large", "torchvision trunk under the FPN (random init)",
                    choices=tuple(TRUNKS)),
    "fpn_channels": opt(int, 64, "channels of the FPN levels and the FCOS head (a multiple of 32: the head's "
                                 "GroupNorm has 32 groups, of at least two channels)", minimum=64, maximum=1024),
    "score_thresh": opt(float, 0.05, "detections below this score are dropped", **PROBABILITY),
    "nms_iou": opt(float, 0.6, "IoU above which the lower-scored of two detections is suppressed", **PROBABILITY),
    "max_detections": opt(int, 50, "most detections kept per image", **AT_LEAST_ONE, maximum=10_000),
    # optimisation: Adam with a cosine schedule
    **common.optimisation(epochs=20, batch_size=8, eval_batch_size=16, lr=1e-3, lr_schedule="cosine",
                          warmup_steps=100, grad_clip=10.0),
    # run
    **common.run(out_dir="runs/detector", seed=1, threads=2, log_every=20, checkpoint_every=100),
}


def ranges_are_ordered(cfg) -> str | None:
    """min_people <= max_people; distance_mm is [min, max] with min <= max."""
    if cfg["min_people"] > cfg["max_people"]:
        return f"min_people {cfg['min_people']} > max_people {cfg['max_people']}"
    d = cfg["distance_mm"]
    if len(d) != 2 or d[0] > d[1]:
        return f"distance_mm must be [min, max] with min <= max, got {d}"
    return None


def channels_fit_the_head(cfg) -> str | None:
    """fpn_channels is a multiple of 32 (the FCOS head's GroupNorm groups)."""
    if cfg["fpn_channels"] % 32:
        return f"fpn_channels must be a multiple of 32 (the FCOS head's GroupNorm groups), got {cfg['fpn_channels']}"
    return None


SCHEMA = Schema(OPTIONS, rules=(*common.RUN_RULES, *common.POSE_DATA_RULES, ranges_are_ordered,
                                channels_fit_the_head))
