"""Trained lifters and estimators as ONNX or TorchScript files that run without this package (`run_exported.py`).

Lifter graph: `joints2d_px` (N, J_in, 2) px in the lifter's input joints -> centred on the root, standardised
with the training statistics, the MLP -> `poses3d` (N, J_out, 3) mm, root-relative camera frame. Scale the 2D
first as `lifting.inference.lifter.rescale_2d` does (the metadata holds both reference scales).

Estimator graph, at a fixed output stride and crop size S: `crops` (N, 3, S, S) RGB in [0, 1] of a virtual crop
camera (principal point at the crop centre) -> `pose3d_rel` (N, 17, 3) mm root-relative in the crop camera's axes
and `pose2d` (N, 17, 2) crop px. Cropping, the absolute pose (a 3x3 weighted least squares the metadata
describes) and the way back to the original camera happen outside the graph.

Metadata: one JSON object, in ONNX `metadata_props` under the key "lifting", in TorchScript the extra file
"lifting.json": kind, joint names, units and frames of inputs and outputs, the input normalisation (2D
statistics; ImageNet mean/std and gamma) and what reconstruction and cropping need.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lifting.checkpoint import Trained, load_trained
from lifting.cli import CAMERA_FRAME, IMAGE_FRAME
from lifting.errors import UserError
from lifting.fileio import atomic_write
from lifting.geometry.skeletons import H36M_17, get_skeleton

METADATA_KEY = "lifting"
TORCHSCRIPT_METADATA = "lifting.json"
FORMATS = ("onnx", "torchscript")
ONNX_OPSET = 17


class ExportedLifter(nn.Module):
    """Root-centring + standardisation + the lifter, as one graph on pixels."""

    def __init__(self, model: nn.Module, mean2d, std2d, root: int):
        super().__init__()
        std = torch.as_tensor(std2d, dtype=torch.float32)
        self.model, self.root = model, root
        self.register_buffer("mean2d", torch.as_tensor(mean2d, dtype=torch.float32))
        self.register_buffer("inv_std2d", torch.where(std > 1e-8, 1 / std.clamp_min(1e-8), torch.zeros_like(std)))

    def forward(self, joints2d_px: torch.Tensor) -> torch.Tensor:
        centred = joints2d_px - joints2d_px[:, self.root:self.root + 1]
        x = (centred.reshape(centred.shape[0], -1) - self.mean2d) * self.inv_std2d
        return self.model(x)[0]


class ExportedEstimator(nn.Module):
    """The crop network with tuple outputs (pose3d_rel, pose2d)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(crops)
        return out["pose3d_rel"], out["pose2d"]


def _lifter(trained: Trained) -> tuple[nn.Module, torch.Tensor, dict[str, Any]]:
    from lifting.datasets.normalize import Stats
    from lifting.inference.lifter import REFERENCE_FOCAL_PX, training_scale_px
    from lifting.models.linear import input_skeleton

    model, stats, cfg = trained.model, Stats.from_dict(trained.task["stats"]), trained.config
    src, dst = get_skeleton(input_skeleton(cfg)), get_skeleton(cfg["skeleton"])
    meta = {
        "kind": "lifter", "model": cfg["model"], "source": trained.path.name,
        "input": {"name": "joints2d_px", "shape": ["N", src.num_joints, 2], "skeleton": src.name,
                  "joint_names": list(src.joint_names), "units": "px", "frame": IMAGE_FRAME},
        "output": {"name": "poses3d", "shape": ["N", dst.num_joints, 3], "skeleton": dst.name,
                   "joint_names": list(dst.joint_names), "units": "mm",
                   "frame": f"root-relative {CAMERA_FRAME}; root {dst.joint_names[dst.root]}"},
        "root": src.root,
        "normalisation": {"mean2d": stats.mean2d.tolist(), "std2d": stats.std2d.tolist(),
                          "rule": "inside the graph: x = (pose - pose[root]) flattened, (x - mean2d) / std2d, 0 where "
                                  "std2d <= 1e-8"},
        "scaling": {"train_scale_px": training_scale_px(stats), "reference_focal_px": REFERENCE_FOCAL_PX,
                    "rule": "before the graph, scale each root-centred pose by train_scale_px / (its RMS joint "
                            "distance from the root), or every pose by reference_focal_px / (your focal length, px)"},
    }
    example = torch.randn(2, src.num_joints, 2, dtype=torch.float32) * 100
    return ExportedLifter(model, stats.mean2d, stats.std2d, src.root).eval(), example, meta


def _estimator(trained: Trained, stride: int | None) -> tuple[nn.Module, torch.Tensor, dict[str, Any]]:
    from lifting.augment.warp import DISPLAY_GAMMA
    from lifting.models.metro import CELL_OFFSET, IMAGENET_MEAN, IMAGENET_STD, with_stride

    model = trained.model if stride in (None, trained.model.stride) else with_stride(trained.model, stride)
    S, ts = model.crop_size, model.train_stride
    margin = 0.25
    meta = {
        "kind": "estimator", "source": trained.path.name, "backbone": model.backbone_name,
        "crop_size": S, "stride": model.stride, "train_stride": ts, "box_size_mm": model.box_size,
        "joint_names": list(H36M_17.joint_names), "skeleton": H36M_17.name, "root": model.root,
        "flip_perm": list(H36M_17.flip_perm),
        "input": {"name": "crops", "shape": ["N", 3, S, S], "units": "RGB in [0, 1]",
                  "normalisation": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
                                    "rule": "inside the graph: (crop - mean) / std per channel"},
                  "camera": f"virtual crop camera looking at the box centre, no roll, focal length making the box's "
                            f"larger side S px, principal point ((S-1)/2, (S-1)/2); pixels resampled in linear light "
                            f"(x^{DISPLAY_GAMMA}) and re-encoded"},
        "outputs": {"pose3d_rel": {"shape": ["N", 17, 3], "units": "mm",
                                   "frame": f"root-relative, crop-camera axes ({CAMERA_FRAME})"},
                    "pose2d": {"shape": ["N", 17, 2], "units": "crop px", "frame": IMAGE_FRAME}},
        "reconstruction": {
            "fov_px": [CELL_OFFSET + margin * ts, CELL_OFFSET + S - ts - margin * ts], "ridge": 1e-2, "mix": 0.5,
            "rule": "joints whose pose2d lies in fov_px on both axes weigh 1 (others 1e-4); normalised 2D u = "
                    "K_crop^-1 pose2d; root translation t solves the weighted least squares u_j (Z_j + t_z) = "
                    "X_j + t_x (and v, Y) of the root-relative pose, with u and the right-hand side scaled to unit "
                    "RMS and `ridge` added to the 3x3 normal matrix; in-FOV joints: (1 - mix) * ray(u_j) * (Z_j + "
                    "t_z) + mix * (P_j + t), others P_j + t"},
    }
    example = torch.rand(2, 3, S, S)
    return ExportedEstimator(model).eval(), example, meta


def load_exportable(path: str | Path, stride: int | None = None) -> tuple[nn.Module, torch.Tensor, dict[str, Any]]:
    """(graph module in eval mode, example input, metadata) for a lifter or an estimator run dir / checkpoint."""
    trained = load_trained(path, ("lifter", "estimator"))
    if trained.kind == "estimator":
        return _estimator(trained, stride)
    if stride is not None:
        raise UserError(f"{trained.path}: --stride applies to estimators only; this is a lifter")
    return _lifter(trained)


def export_model(path: str | Path, fmt: str, out: str | Path, stride: int | None = None) -> dict[str, Any]:
    """Write the exported graph with its metadata to `out` (atomically); returns the metadata."""
    if fmt not in FORMATS:
        raise UserError(f"export format {fmt!r}: expected one of {', '.join(FORMATS)}")
    graph, example, meta = load_exportable(path, stride)
    meta["format"] = fmt
    text = json.dumps(meta)
    inputs = [meta["input"]["name"]]
    outputs = [meta["output"]["name"]] if meta["kind"] == "lifter" else list(meta["outputs"])
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")          # tracer and legacy-exporter deprecation notes are not the user's
        if fmt == "torchscript":
            traced = torch.jit.trace(graph, (example,))
            atomic_write(out, lambda tmp: torch.jit.save(traced, tmp, _extra_files={TORCHSCRIPT_METADATA: text}))
        else:
            try:
                import onnx
            except ImportError:
                raise UserError("ONNX export needs the onnx package: pip install 'lifting[export]'") from None
            buffer = io.BytesIO()
            torch.onnx.export(graph, (example,), buffer, input_names=inputs, output_names=outputs,
                              dynamic_axes={n: {0: "N"} for n in inputs + outputs}, opset_version=ONNX_OPSET,
                              dynamo=False)
            proto = onnx.load_from_string(buffer.getvalue())
            entry = proto.metadata_props.add()
            entry.key, entry.value = METADATA_KEY, text
            atomic_write(out, lambda tmp: onnx.save(proto, tmp))
    return meta
