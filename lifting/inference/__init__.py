"""Using trained models, with no training code: lifters (2D keypoints -> 3D), the MeTRo/MeTRAbs estimator
(images -> 2D and metric 3D) and RootNet (images -> absolute roots)."""

from lifting.inference.estimator import estimate_poses, predict_dataset
from lifting.inference.lifter import lift
from lifting.inference.rootnet import estimate_roots, predict_roots_dataset

__all__ = ["estimate_poses", "estimate_roots", "lift", "predict_dataset", "predict_roots_dataset"]
