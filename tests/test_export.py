"""ONNX and TorchScript export of both models: outputs equal eager PyTorch, metadata inside, and run_exported.py runs
them end to end (NumPy + onnxruntime/torch only)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import render, sample_poses, train_estimator, train_lifter

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
ROOT = Path(__file__).resolve().parents[1]
K = np.array([[300.0, 0, 159.5], [0, 300.0, 119.5], [0, 0, 1]])


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_h36m):
    base = tmp_path_factory.mktemp("export")
    return {"lifter": train_lifter(base / "lifter", tiny_h36m, "epochs=3", "linear_size=64"),
            "estimator": train_estimator(base / "estimator", tiny_h36m)}


def close(a, b, atol_mm=1e-3):
    """Equal within 1e-3 mm plus float32 rounding of the magnitude (GEMMs differ with batch size and kernels)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    tol = atol_mm + 4e-6 * max(np.abs(b).max(), 1.0)
    assert np.abs(a - b).max() <= tol, (np.abs(a - b).max(), tol)


def run_file(path: Path, x: np.ndarray):
    """Outputs of an exported file, as a list of arrays, and its metadata."""
    if path.suffix == ".onnx":
        ort = pytest.importorskip("onnxruntime")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        meta = json.loads(session.get_modelmeta().custom_metadata_map["lifting"])
        return session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)}), meta
    extra = {"lifting.json": ""}
    module = torch.jit.load(str(path), _extra_files=extra)
    with torch.no_grad():
        out = module(torch.from_numpy(x.astype(np.float32)))
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))], json.loads(extra["lifting.json"])


def export(runs, kind, fmt, tmp_path):
    if fmt == "onnx":
        pytest.importorskip("onnx")
    from lifting.export import export_model

    out = tmp_path / f"{kind}.{'onnx' if fmt == 'onnx' else 'pt'}"
    export_model(runs[kind], fmt, out)
    return out


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_exported_lifter_equals_pytorch(runs, tmp_path, tiny_h36m, fmt):
    from lifting.checkpoint import load_trained
    from lifting.datasets.h36m import load_h36m
    from lifting.datasets.normalize import Stats
    from lifting.inference.lifter import lift

    path = export(runs, "lifter", fmt, tmp_path)
    trained = load_trained(runs["lifter"], "lifter")
    model, stats = trained.model, Stats.from_dict(trained.task["stats"])
    joints2d = load_h36m(tiny_h36m, [9], cameras=(1,)).joints2d_px[:7].astype(np.float64)    # batch != example's 2
    (out,), meta = run_file(path, joints2d)
    close(out, lift(model, stats, joints2d, 0))
    assert meta["kind"] == "lifter" and meta["output"]["units"] == "mm" and meta["format"] == fmt
    assert "x right, y down, z forward" in meta["output"]["frame"]
    assert meta["input"]["joint_names"][0] == "mid_hip" and len(meta["normalisation"]["mean2d"]) == 34
    assert meta["scaling"]["reference_focal_px"] == pytest.approx(1146.79, abs=0.01)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_exported_estimator_equals_pytorch(runs, tmp_path, fmt):
    from lifting.checkpoint import load_trained

    path = export(runs, "estimator", fmt, tmp_path)
    model = load_trained(runs["estimator"], "estimator").model
    crops = torch.rand(5, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    (rel, pose2d), meta = run_file(path, crops.numpy())
    with torch.no_grad():
        ref = model(crops)
    close(rel, ref["pose3d_rel"])
    close(pose2d, ref["pose2d"])
    assert meta["kind"] == "estimator" and meta["crop_size"] == 64 and meta["stride"] == 32
    assert meta["outputs"]["pose3d_rel"]["units"] == "mm" and meta["input"]["normalisation"]["std"][0] == 0.229
    assert len(meta["joint_names"]) == 17 and meta["reconstruction"]["fov_px"] == [8.0, 24.0]


def run_script(tmp_path, *args):
    """run_exported.py with the lifting package made unimportable."""
    code = ("import runpy, sys; sys.modules['lifting'] = None; sys.argv = sys.argv[1:]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT / "run_exported.py"), *map(str, args)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_run_exported_without_the_package(runs, tmp_path, tiny_h36m, fmt):
    from lifting.checkpoint import load_trained
    from lifting.datasets.h36m import load_h36m
    from lifting.datasets.images import write_jpeg
    from lifting.datasets.normalize import Stats
    from lifting.inference import estimate_poses
    from lifting.inference.lifter import lift, rescale_2d

    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    lifter, estimator = export(runs, "lifter", fmt, tmp_path), export(runs, "estimator", fmt, tmp_path)
    joints2d = load_h36m(tiny_h36m, [9], cameras=(1,)).joints2d_px[:3].astype(np.float64)
    np.save(tmp_path / "poses.npy", joints2d)
    code, out, err = run_script(tmp_path, lifter, "poses.npy", "--out", "lifted.npz")
    assert code == 0, err
    trained = load_trained(runs["lifter"], "lifter")
    model, stats = trained.model, Stats.from_dict(trained.task["stats"])
    close(np.load(tmp_path / "lifted.npz")["poses3d"], lift(model, stats, rescale_2d(joints2d, 0, stats), 0))

    joints = sample_poses(tiny_h36m, 1)
    joints = joints - joints[:, :1] + np.array([0.0, 0.0, 4500.0])
    image = render(joints, K, (240, 320))[0]
    write_jpeg(tmp_path / "person.jpg", (image * 255).round().byte())
    box = [100.0, 20.0, 120.0, 200.0]
    code, out, err = run_script(tmp_path, estimator, "person.jpg", "--box", ",".join(map(str, box)),
                                "--intrinsics", "300,300,159.5,119.5", "--out", "pose.npz")
    assert code == 0, err
    got = np.load(tmp_path / "pose.npz")
    from lifting.datasets.images import read_image

    ref = estimate_poses(load_trained(runs["estimator"], "estimator").model, [read_image(tmp_path / "person.jpg")], [np.array(box)], K)
    close(got["poses3d"], ref["poses3d_abs"], atol_mm=0.01)          # float64 NumPy crop + solve vs float32 torch
    close(got["poses2d"], ref["poses2d"], atol_mm=0.01)
    assert json.loads(str(got["metadata"]))["kind"] == "estimator"


def test_run_exported_imports_nothing_from_lifting():
    source = (ROOT / "run_exported.py").read_text()
    assert "import lifting" not in source and "from lifting" not in source


@pytest.mark.parametrize("args, needle", [
    (["--ckpt", "nothing_here", "--format", "onnx", "--out", "m.onnx"],
     "no such checkpoint file or run directory, nor a model of the zoo"),
    (["--ckpt", "{lifter}", "--format", "onnx", "--out", "m.pt"], "expected a file ending in .onnx"),
    (["--ckpt", "{lifter}", "--format", "torchscript", "--out", "m.pt", "--stride", "16"], "estimators only"),
    (["--ckpt", "{lifter}", "--format", "tflite", "--out", "m.tfl"], "invalid choice"),
])
def test_export_bad_input_is_one_line_exit_2(runs, tmp_path, args, needle):
    args = [a.format(lifter=runs["lifter"]) for a in args]
    proc = subprocess.run([sys.executable, str(ROOT / "export.py"), *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and needle in proc.stderr, proc.stderr
    assert not any(tmp_path.iterdir())


def test_run_exported_bad_input(runs, tmp_path):
    (tmp_path / "model.onnx").write_text("not a model")
    np.save(tmp_path / "p.npy", np.zeros((2, 5, 2)))
    code, _, err = run_script(tmp_path, "model.onnx", "p.npy")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
