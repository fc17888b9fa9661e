"""The training engine: one loop (`fit`) for every model, each model a `Task`."""

from lifting.engine.distributed import Dist
from lifting.engine.loop import RunOptions, fit
from lifting.engine.task import Task, TrainPlan

__all__ = ["Dist", "RunOptions", "Task", "TrainPlan", "fit"]
