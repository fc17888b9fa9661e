"""Using trained models, with no training code: lifters (2D keypoints -> 3D), the MeTRo/MeTRAbs estimator
(images -> 2D and metric 3D) and RootNet (images -> absolute roots). Exports load on first use, so that a
submodule (smoothing, tracking) does not pull in the image models and torchvision."""

from importlib import import_module

_API = {"estimate_poses": "estimator", "predict_dataset": "estimator", "lift": "lifter",
        "estimate_roots": "rootnet", "predict_roots_dataset": "rootnet"}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(import_module(f"lifting.inference.{_API[name]}"), name)
    raise AttributeError(f"module 'lifting.inference' has no attribute {name!r}")
