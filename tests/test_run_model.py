"""run_model.py on your own keypoints: COCO-style and OpenPose JSON, .npy, the real LSP joints.mat; figure,
3D file and animation metadata; bad input is one line, exit code 2, nothing written."""

import contextlib
import importlib.util
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import train_lifter

from lifting.geometry.skeletons import H36M_17

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
LSP_MAT = ROOT.parent / "shared" / "data" / "lsp" / "joints.mat"
COCO_FROM_H36M = {"nose": "chin", "left_shoulder": "left_shoulder", "right_shoulder": "right_shoulder",
                  "left_elbow": "left_elbow", "right_elbow": "right_elbow", "left_wrist": "left_wrist",
                  "right_wrist": "right_wrist", "left_hip": "left_hip", "right_hip": "right_hip",
                  "left_knee": "left_knee", "right_knee": "right_knee", "left_ankle": "left_ankle",
                  "right_ankle": "right_ankle"}


@pytest.fixture(scope="module")
def lifter(tmp_path_factory, tiny_h36m):
    """A lifter trained for 2 s on the tiny synthetic data (85 mm MPJPE there): enough for plausible shapes."""
    return train_lifter(tmp_path_factory.mktemp("lifter") / "run", tiny_h36m, "epochs=20", "linear_size=128",
                        "batch_size=64", "train_subjects=[1,5,6,7,8]")


@pytest.fixture(scope="module")
def gt2d(tiny_h36m):
    from lifting.datasets.h36m import load_h36m

    return load_h36m(tiny_h36m, [9], cameras=(2,)).joints2d_px[:6].astype(np.float64)


def _main():
    spec = importlib.util.spec_from_file_location("run_model", ROOT / "run_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def run(tmp_path, *args):
    """run_model.py's main(argv) in-process, in `tmp_path` -> (exit code, stdout, stderr)."""
    out, err, cwd = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(tmp_path)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = _main()([str(a) for a in args])
    finally:
        os.chdir(cwd)
    return code, out.getvalue(), err.getvalue()


def coco_person(pose17: np.ndarray) -> list[float]:
    """COCO-17 keypoints (x, y, score) made from a Human3.6M-17 pose: eyes and ears beside the nose."""
    from lifting.geometry.keypoint_formats import COCO_17

    idx = {n: i for i, n in enumerate(H36M_17.joint_names)}
    out = []
    for name in COCO_17:
        if name in COCO_FROM_H36M:
            xy = pose17[idx[COCO_FROM_H36M[name]]]
        else:
            side = -1.0 if name.startswith("right") else 1.0
            xy = pose17[idx["chin"]] + np.array([side * (4.0 if "eye" in name else 9.0), -3.0])
        out += [float(xy[0]), float(xy[1]), 0.9]
    return out


def png_description(path: Path) -> str:
    from PIL import Image

    with Image.open(path) as im:
        return im.info.get("Description", "")


def test_coco_results_with_several_people(tmp_path, lifter, gt2d):
    results = [{"image_id": 1, "category_id": 1, "keypoints": coco_person(gt2d[0]), "score": 0.9},
               {"image_id": 1, "category_id": 1, "keypoints": coco_person(gt2d[1]), "score": 0.8},
               {"image_id": 2, "category_id": 1, "keypoints": coco_person(gt2d[2]), "score": 0.9}]
    missing = np.array(results[2]["keypoints"]).reshape(17, 3)
    missing[9, 2] = 0.0                                                   # left wrist not detected
    results[2]["keypoints"] = missing.ravel().tolist()
    (tmp_path / "res.json").write_text(json.dumps(results))
    code, out, err = run(tmp_path, "res.json", "--ckpt", lifter, "--image-size", "1000,1000", "--save-3d", "p.npz",
                         "--out", "fig.png")
    assert code == 0, err
    saved = np.load(tmp_path / "p.npz")
    assert saved["poses3d"].shape == (3, 17, 3) and np.isfinite(saved["poses3d"]).all()
    assert saved["source_image"].tolist() == ["1", "1", "2"] and saved["source_person"].tolist() == [0, 1, 0]
    meta = json.loads(str(saved["metadata"]))
    assert meta["units"] == "mm" and "x right, y down, z forward" in meta["frame"] and meta["input_format"] == "coco_17"
    assert meta["joint_names"] == list(H36M_17.joint_names) == saved["joint_names"].tolist()
    np.testing.assert_allclose(saved["poses3d"][:, 0], 0.0, atol=1e-3)           # root-relative
    assert "mm" in png_description(tmp_path / "fig.png")


def test_openpose_frames_make_an_animation(tmp_path, lifter, gt2d):
    from PIL import Image

    from lifting.geometry.keypoint_formats import OPENPOSE_25

    frames = tmp_path / "frames"
    frames.mkdir()
    idx = {n: i for i, n in enumerate(H36M_17.joint_names)}
    for k in range(3):
        kp = np.zeros((25, 3))
        for i, name in enumerate(OPENPOSE_25):
            src = {"nose": "chin", "neck": "neck"}.get(name, name)
            if src in idx:
                kp[i] = [*gt2d[k, idx[src]], 0.8]
        kp[8] = [*gt2d[k, idx["mid_hip"]], 0.8]
        (frames / f"clip_{k:012d}_keypoints.json").write_text(json.dumps(
            {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": kp.ravel().tolist()}]}))
    code, out, err = run(tmp_path, "frames", "--ckpt", lifter, "--animation", "walk.gif", "--save-3d", "walk.npy")
    assert code == 0, err
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.n_frames == 3 and b"mm" in gif.info.get("comment", b"")
    assert np.load(tmp_path / "walk.npy").shape == (3, 17, 3)
    meta = json.loads((tmp_path / "walk.json").read_text())
    assert meta["input_format"] == "openpose_25" and len(meta["rows"]) == 3 and meta["units"] == "mm"
    assert (tmp_path / "frames_3d.png").is_file()                                  # default figure name


def test_npy_in_the_lifter_joint_order_and_the_focal_option(tmp_path, lifter, gt2d):
    np.save(tmp_path / "pose.npy", gt2d[0])
    code, _, err = run(tmp_path, "pose.npy", "--ckpt", lifter, "--save-3d", "a.npy")
    assert code == 0, err
    code, _, err = run(tmp_path, "pose.npy", "--ckpt", lifter, "--save-3d", "b.npy", "--focal", "500")
    assert code == 0, err
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert a.shape == b.shape == (1, 17, 3) and not np.allclose(a, b)
    assert "1146.79 / 500" in json.loads((tmp_path / "b.json").read_text())["input_scaling"]


@pytest.mark.skipif(not LSP_MAT.is_file(), reason=f"the shared LSP annotations are not at {LSP_MAT}")
def test_lifts_the_real_lsp_annotations(tmp_path, lifter):
    """All 10,000 LSP-extended poses lift to finite 3D. Plausible limbs: the median over all poses of every one of
    the 16 limb lengths lies within 0.5 - 2 x the lifter's training mean of that limb, and at least 90 % of the
    poses have a total limb length within 0.5 - 2.5 x the training total."""
    from lifting.checkpoint import load_trained

    code, out, err = run(tmp_path, LSP_MAT, "--ckpt", lifter, "--save-3d", "lsp.npz", "--out", "lsp.png")
    assert code == 0, err
    poses = np.load(tmp_path / "lsp.npz")["poses3d"]
    assert poses.shape == (10_000, 17, 3) and np.isfinite(poses).all()
    ref = np.asarray(load_trained(lifter, "lifter").task["stats"]["avg_limb_lengths"])
    ratio = H36M_17.limb_lengths(poses.astype(np.float64)) / ref
    median = np.median(ratio, 0)
    assert ((median > 0.5) & (median < 2.0)).all(), median
    total = ratio @ ref / ref.sum()
    assert ((total > 0.5) & (total < 2.5)).mean() >= 0.9
    assert "filled" in out and (tmp_path / "lsp.png").is_file()


@pytest.mark.parametrize("setup, args, needle", [
    (lambda d: (d / "bad.json").write_text("{oops"), ["bad.json"], "not valid JSON"),
    (lambda d: np.save(d / "p.npy", np.zeros((17, 2))), ["p.npy", "--format", "body_9"], "unknown keypoint format"),
    (lambda d: np.save(d / "p.npy", np.ones((2, 18, 2))), ["p.npy", "--format", "coco_17"], "not understood"),
    (lambda d: (d / "p.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": [1] * 51}]})), ["p.json"],
     "has 51 numbers per pose; the format needs 75"),
    (lambda d: np.save(d / "p.npy", np.full((17, 2), np.nan)), ["p.npy"], "NaN or infinite"),
    (lambda d: np.save(d / "p.npy", np.full((17, 2), 5.0)), ["p.npy"], "degenerate pose"),
    (lambda d: (d / "fig.png").mkdir(), ["missing.npy", "--out", "fig.png"], "is a directory"),
    (lambda d: (d / "afile").write_text(""), ["p.npy", "--save-3d", "afile/x.npy"], "exists and is not a directory"),
    (lambda d: None, ["p.npy", "--save-3d", "x.csv"], "expected a file ending in .npy or .npz"),
    (lambda d: None, ["p.npy", "--image-size", "100"], "expected 2 comma-separated"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, lifter, setup, args, needle):
    setup(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, out, err = run(tmp_path, *args, "--ckpt", lifter)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert needle in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_output_paths_are_checked_before_the_model_is_loaded(tmp_path):
    (tmp_path / "out.png").mkdir()
    code, _, err = run(tmp_path, "p.npy", "--ckpt", "no_such_run", "--out", "out.png")
    assert code == 2 and "--out out.png: is a directory" in err


def test_animation_needs_one_person_per_frame(tmp_path, lifter, gt2d):
    people = [coco_person(gt2d[0]), coco_person(gt2d[1])]
    (tmp_path / "two.json").write_text(json.dumps([{"image_id": 1, "keypoints": p} for p in people]))
    code, _, err = run(tmp_path, "two.json", "--ckpt", lifter, "--animation", "a.gif")
    assert code == 2 and "one person per frame" in err and not (tmp_path / "a.gif").exists()
