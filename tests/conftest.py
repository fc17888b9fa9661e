"""Shared fixtures: the optional shared data folder and a tiny synthetic dataset."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_h36m(tmp_path_factory) -> Path:
    """A tiny built-in synthetic dataset in the h5-annotation layout (all 7 subjects)."""
    from lifting.synth.poses import ensure_synthetic_dataset

    return Path(ensure_synthetic_dataset(tmp_path_factory.mktemp("cache"), seed=0, size="tiny"))
