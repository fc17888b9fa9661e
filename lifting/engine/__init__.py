"""The training engine: one loop (`fit`) for every model, each model a `Task`; what a run writes goes through a
`Checkpointer`."""

from lifting.engine.checkpointer import Checkpointer
from lifting.engine.distributed import Dist
from lifting.engine.loop import RunOptions, fit
from lifting.engine.task import Task, TrainPlan

__all__ = ["Checkpointer", "Dist", "RunOptions", "Task", "TrainPlan", "fit"]
