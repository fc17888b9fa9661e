"""Image sets rendered once into cache_dir (never half-written), keyed by what they show."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lifting.datasets.samples import PoseSet
from lifting.experiments.representations.design import NAME

log = logging.getLogger("lifting")


def cached_dir(final: Path, build: Callable[[Path], Any], what: str) -> Path:
    """`final`, built once by `build(tmp)` in a temporary sibling and renamed into place (never half-written)."""
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    log.info(f"[{NAME}] {what} -> {final}")
    try:
        build(tmp)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _hash(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def images_dir(data_dir: Path, cfg: dict[str, Any], num_frames: int, render_size: int, cache: Path) -> Path:
    """Where the rendered images of the lifting frames of config `cfg` live (one folder per frame selection)."""
    key = _hash(str(data_dir.resolve()), *(cfg[k] for k in ("train_subjects", "test_subjects", "stride", "test_stride",
                                                            "cameras", "actions")), render_size, num_frames)
    return cache / f"representations_images_{key}"


def render_images(root: Path, data_dir: Path, poses: PoseSet, render_size: int) -> Path:
    """The lifting frames `poses` rendered by the built-in renderer into `root` (parsed-Human3.6M layout)."""
    import sys

    from tqdm import tqdm

    from lifting.geometry.cameras import load_h36m_cameras
    from lifting.synth.writer import write_rendered_dataset

    def build(tmp: Path) -> None:
        with tqdm(total=len(poses), desc="rendering", unit="img", disable=not sys.stderr.isatty()) as bar:
            write_rendered_dataset(tmp, poses, image_size=render_size, stride=1, seed=0,
                                   cameras=load_h36m_cameras(data_dir / "cameras.h5"), progress=bar.update)
    return cached_dir(root, build, f"rendering {len(poses)} images")


def lsp_dir(args, cache: Path) -> Path:
    """Where the default LSP-layout set of this size lives in cache_dir."""
    return cache / f"representations_lsp_{_hash('tiny' if args.quick else 'default', args.lsp_count)}"


def render_lsp(args, cache: Path, root: Path) -> Path:
    """The default LSP-layout set: built-in synthetic poses of subjects the lifters never see (S9, S11), framed
    like LSP photos and rendered by the built-in renderer, with true-depth pair labels."""
    from lifting.datasets.h36m import load_h36m
    from lifting.synth.poses import ensure_synthetic_dataset
    from lifting.synth.writer import write_rendered_lsp

    def build(tmp: Path) -> None:
        data = ensure_synthetic_dataset(cache, size="tiny" if args.quick else "default")
        poses = load_h36m(data, [9, 11], cache_dir=cache / "h36m")
        pick = np.unique(np.linspace(0, len(poses) - 1, min(args.lsp_count, len(poses))).round().astype(int))
        write_rendered_lsp(tmp, poses.joints3d_cam[pick], seed=0)
    return cached_dir(root, build, f"rendering an LSP-layout set of {args.lsp_count} images")
