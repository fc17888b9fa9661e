"""lifting: monocular 3D human pose in PyTorch (2D-to-3D lifting, relative-depth weak supervision, MeTRo/MeTRAbs).

The public API, imported on first use so that `import lifting` stays light:

    from lifting import load_config, run_task            # train / evaluate any task from a config
    from lifting import load_trained                      # any trained model: lifter, estimator, RootNet, detector
    from lifting import load_pretrained                   # a model of the zoo by name (checkpoint/README.md)
    from lifting import lift, estimate_poses              # a trained lifter on 2D poses, an estimator on images
    from lifting import detect_poses                      # everybody in an image: detector -> roots -> poses
"""

from importlib import import_module

__version__ = "0.3.0"

_API = {
    "UserError": "lifting.errors",
    "load_config": "lifting.config",
    "fit": "lifting.engine", "RunOptions": "lifting.engine", "Task": "lifting.engine", "TrainPlan": "lifting.engine",
    "Checkpointer": "lifting.engine",
    "run_task": "lifting.tasks", "build_task": "lifting.tasks", "TASKS": "lifting.tasks",
    "load_trained": "lifting.checkpoint", "Trained": "lifting.checkpoint", "KINDS": "lifting.checkpoint",
    "load_pretrained": "lifting.zoo",
    "lift": "lifting.inference", "build_lifter": "lifting.models.linear",
    "estimate_poses": "lifting.inference", "estimate_roots": "lifting.inference",
    "detect_poses": "lifting.inference.multiperson",
    "load_h36m": "lifting.datasets.h36m", "PoseSet": "lifting.datasets.samples",
    "Camera": "lifting.geometry.cameras", "project": "lifting.geometry.cameras", "unproject": "lifting.geometry.cameras",
    "get_skeleton": "lifting.geometry.skeletons", "convert": "lifting.geometry.skeletons",
    "evaluate_poses": "lifting.metrics",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'lifting' has no attribute {name!r}")
