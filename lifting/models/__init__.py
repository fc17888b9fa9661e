"""Model families, and how each kind of trained model is rebuilt from the task state its checkpoint holds (the
builders `lifting.checkpoint.KINDS` names): (task state, run config, where) -> (model, the config it was built from)."""

from __future__ import annotations

from typing import Any

from torch import nn


def lifter_from_state(task: dict[str, Any], config: dict[str, Any], where: str) -> tuple[nn.Module, dict[str, Any]]:
    """The lifter its lifting config describes (the run's own, or the loaded one of an LSP or eval_only run)."""
    from lifting.config import validate
    from lifting.models.linear import build_lifter
    from lifting.options.h36m import SCHEMA

    cfg = validate(SCHEMA, task["lifter_config"], f"{where} lifter_config")
    return build_lifter(cfg), cfg


def estimator_from_state(task: dict[str, Any], config: dict[str, Any], where: str) -> tuple[nn.Module, dict[str, Any]]:
    from lifting.models.metro import MetroNet

    return MetroNet(**task["arch"]), config


def rootnet_from_state(task: dict[str, Any], config: dict[str, Any], where: str) -> tuple[nn.Module, dict[str, Any]]:
    from lifting.models.rootnet import RootNet

    return RootNet(**task["arch"]), config


def detector_from_state(task: dict[str, Any], config: dict[str, Any], where: str) -> tuple[nn.Module, dict[str, Any]]:
    from lifting.models.detector import PersonDetector

    return PersonDetector(**task["arch"]), config
