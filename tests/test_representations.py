"""The representation study: predictions aligned to lifting frames by key, the distortion-aware 2D mapping, the
lifter options that train on the estimator's outputs, the LSP image layout, and the whole study with --quick."""

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from lifting.config import load_config
from lifting.datasets.lsp import read_lsp_images
from lifting.datasets.samples import KEY_FIELDS, PoseSet, replace_2d_from_predictions
from lifting.engine import Dist
from lifting.errors import UserError
from lifting.experiments.representations.design import CONDITIONS
from lifting.fileio import save_npz
from lifting.options.h36m import SCHEMA
from lifting.tasks.lifting import LiftingTask, load_split

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}   # this checkout's package, one thread


def lifting_cfg(tmp_path, data_dir, *extra):
    return load_config(SCHEMA, None, [f"data_dir={data_dir}", f"cache_dir={tmp_path / 'cache'}",
                                      f"out_dir={tmp_path / 'run'}", "train_subjects=[1]", "test_subjects=[9]",
                                      "linear_size=16", "threads=1", "compile=false", *extra])


def estimator_like(poses: PoseSet, rng: np.random.Generator) -> dict:
    """A predictions file's arrays for `poses`: 2D in a quarter-size pinhole image of the camera (as the renderer
    writes them), off by a few px, and 3D off by a few cm, so they differ from the ground truth."""
    f, c = poses.cam_f / 4, (poses.cam_c + 0.5) / 4 - 0.5
    uv = poses.joints3d_cam[..., :2] / poses.joints3d_cam[..., 2:] * f[:, None] + c[:, None]
    joints3d = poses.joints3d_cam + rng.normal(0, 30, poses.joints3d_cam.shape)
    return {"joints2d_px": uv + rng.normal(0, 2, uv.shape), "cam_f": f, "cam_c": c, "joints3d_cam": joints3d,
            "joints3d_rootrel": joints3d - joints3d[:, :1] + rng.normal(0, 10, joints3d.shape),
            **{k: poses.arrays()[k] for k in KEY_FIELDS}}


def write_predictions(path, arrays, order):
    return save_npz(path, **{k: np.asarray(v)[order] for k, v in arrays.items()})


def setup(cfg):
    task = LiftingTask(cfg)
    task.setup(Dist())
    return task


def test_shuffled_predictions_give_identical_lifter_inputs_targets_and_labels(tmp_path, tiny_h36m):
    base = lifting_cfg(tmp_path, tiny_h36m)
    train, test = load_split(base, True), load_split(base, False)
    rng = np.random.default_rng(0)
    arrays = {k: np.concatenate([a, b]) for (k, a), b in zip(estimator_like(train, rng).items(),
                                                             estimator_like(test, rng).values())}
    n = len(arrays["frame"])
    files = [write_predictions(tmp_path / "in_order.npz", arrays, np.arange(n)),
             write_predictions(tmp_path / "shuffled.npz", arrays, rng.permutation(n))]
    sup = [setup(lifting_cfg(tmp_path, tiny_h36m, f"predictions_2d={f}", f"train_predictions_2d={f}",
                             "train_targets_3d=predictions")) for f in files]
    gt = setup(base)
    assert torch.equal(sup[0].train.x, sup[1].train.x) and torch.equal(sup[0].test.x, sup[1].test.x)
    assert torch.equal(sup[0].train.joints3d_centred, sup[1].train.joints3d_centred)
    assert not torch.allclose(sup[0].train.x, gt.train.x, atol=0.05)       # estimator inputs, not GT
    # The targets are the estimator's root-relative 3D (no GT 3D): row k of the file in training-set order.
    est_rootrel = arrays["joints3d_rootrel"][:len(train)]
    np.testing.assert_allclose(sup[0].train.joints3d_centred.numpy(), est_rootrel - est_rootrel[:, :1], atol=1e-3)
    np.testing.assert_array_equal(sup[0].test.joints3d_centred.numpy(), gt.test.joints3d_centred.numpy())
    rel = [setup(lifting_cfg(tmp_path, tiny_h36m, "model=relative", f"predictions_2d={f}",
                             f"train_predictions_2d={f}", "pair_labels_from=predictions")) for f in files]
    assert torch.equal(rel[0].pairs.depth, rel[1].pairs.depth)
    np.testing.assert_allclose(rel[0].pairs.depth.numpy(), (est_rootrel - est_rootrel[:, :1])[..., 2], atol=1e-3)
    assert torch.equal(rel[0].train.joints3d_centred, gt.train.joints3d_centred)   # GT targets unless asked


def test_options_that_need_the_predictions_file(tmp_path, tiny_h36m):
    with pytest.raises(UserError, match="train_targets_3d: 'predictions' needs train_predictions_2d"):
        lifting_cfg(tmp_path, tiny_h36m, "train_targets_3d=predictions")
    with pytest.raises(UserError, match="pair_labels_from: 'predictions' is a relative-depth pairs option"):
        lifting_cfg(tmp_path, tiny_h36m, f"train_predictions_2d={tmp_path / 'p.npz'}", "pair_labels_from=predictions")


def test_a_distorted_projection_maps_back_from_the_rendered_image_within_0_01_px(tmp_path, tiny_h36m):
    from lifting.datasets.images import ImageDataset
    from lifting.experiments.representations.predict import image_rows
    from lifting.synth.writer import write_rendered_dataset

    poses = load_split(lifting_cfg(tmp_path, tiny_h36m), True)
    assert np.abs(poses.cam_k).max() > 0.1 and np.abs(poses.cam_p).max() > 1e-4   # the loader carries distortion
    poses = poses.subset(np.arange(0, len(poses), 11))
    write_rendered_dataset(tmp_path / "img", poses, image_size=96, seed=0, occluder_prob=0.0)
    images = ImageDataset(tmp_path / "img", [1])
    rows = image_rows(images, poses)
    # A perfect estimator: the exact 2D label of each rendered (pinhole, resized) image.
    save_npz(tmp_path / "perfect.npz", joints2d_px=images.joints2d_px[rows], cam_f=images.f[rows],
             cam_c=images.c[rows], **{k: poses.arrays()[k] for k in KEY_FIELDS})
    mapped = replace_2d_from_predictions(poses, tmp_path / "perfect.npz").joints2d_px
    assert np.abs(mapped - poses.joints2d_px).max() < 0.01
    no_lens = replace(poses, cam_k=np.zeros_like(poses.cam_k), cam_p=np.zeros_like(poses.cam_p))
    pinhole = replace_2d_from_predictions(no_lens, tmp_path / "perfect.npz").joints2d_px
    assert np.abs(pinhole - poses.joints2d_px).max() > 1.0      # without the lens model the mapping is off


# ------------------------------------------------------------------------------------------------------ LSP

def _lsp_folder(root: Path, layout: str, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    xy = rng.uniform(5, 90, (n, 14, 2))
    visible = rng.random((n, 14)) < 0.8
    if layout == "lsp":        # 3 x 14 x N, occlusion flag (0 = visible), im%04d.jpg
        mat, digits = np.concatenate([xy.transpose(2, 1, 0), (~visible).T[None].astype(float)]), 4
    else:                      # 14 x 3 x N, visibility flag, im%05d.jpg
        mat, digits = np.concatenate([xy.transpose(1, 2, 0), visible.T[:, None].astype(float)], 1), 5
    (root / "images").mkdir(parents=True)
    scipy.io.savemat(root / "joints.mat", {"joints": mat})
    for k in range(1, n + 1):
        Image.new("RGB", (100, 100)).save(root / "images" / f"im{k:0{digits}d}.jpg")
    return xy, visible


@pytest.mark.parametrize("layout, name", [("lsp", "im0003.jpg"), ("extended", "im00003.jpg")])
def test_lsp_folder_reads_both_layouts_and_namings(tmp_path, layout, name):
    xy, visible = _lsp_folder(tmp_path, layout, 5, np.random.default_rng(1))
    lsp = read_lsp_images(tmp_path)
    assert len(lsp) == 5 and lsp.image_paths[2].name == name
    np.testing.assert_allclose(lsp.joints2d_px, xy, rtol=1e-6)
    np.testing.assert_array_equal(lsp.visible, visible)


def test_lsp_folder_errors(tmp_path):
    _lsp_folder(tmp_path / "a", "lsp", 4, np.random.default_rng(0))
    (tmp_path / "a" / "images" / "im0004.jpg").unlink()
    with pytest.raises(UserError, match=r"3 images, but .*joints\.mat annotates 4"):
        read_lsp_images(tmp_path / "a")
    (tmp_path / "a" / "images" / "im0005.jpg").write_bytes(b"")
    with pytest.raises(UserError, match=r"not numbered im0001.jpg \.\.\. im0004.jpg \(found im0005.jpg\)"):
        read_lsp_images(tmp_path / "a")
    with pytest.raises(UserError, match="joints.mat not found"):
        read_lsp_images(tmp_path / "nothing")


def test_rendered_lsp_layout_set_reads_back_with_true_depth_labels(tmp_path, tiny_h36m):
    from lifting.datasets.lsp import load_relative_depth_json
    from lifting.geometry.skeletons import convert
    from lifting.metrics import pair_accuracy
    from lifting.synth.writer import lsp_framing, write_rendered_lsp

    poses = load_split(lifting_cfg(tmp_path, tiny_h36m), False).subset(np.arange(0, 40, 5))
    assert write_rendered_lsp(tmp_path / "lsp", poses.joints3d_cam, seed=3) == 8
    lsp = read_lsp_images(tmp_path / "lsp")
    labels = load_relative_depth_json(tmp_path / "lsp" / "relative_depth_lsp_v1.json")
    np.testing.assert_allclose(labels.joints2d_px, lsp.joints2d_px, atol=1e-3)   # the same annotation twice
    moved, K, size = lsp_framing(poses.joints3d_cam.astype(np.float64), np.random.default_rng(3))
    assert lsp.visible.mean() > 0.95 and ((size >= 240) & (size <= 400)).all()
    depth = convert(moved, "h36m_17", "lsp_14")[..., 2]
    assert pair_accuracy(depth[labels.ann_image], labels.ann_pairs, labels.ann_labels) == 1.0
    height = np.ptp(lsp.joints2d_px[..., 1], axis=1) / size[:, 1]
    assert 0.3 < height.mean() < 0.9                   # a person filling an LSP-like share of the photo


# ------------------------------------------------------------------------------------------------ the study

def study(results, cache, *extra):
    return subprocess.run([sys.executable, "paper_exps/representations.py", "--quick", "--results-dir", str(results),
                           "--cache-dir", str(cache), "--device", "cpu", *map(str, extra)],
                          cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The quick study, run once for the module (about a minute: every test that uses it is marked slow)."""
    tmp = tmp_path_factory.mktemp("representations")
    start = time.perf_counter()
    proc = study(tmp / "results", tmp / "cache")
    assert proc.returncode == 0, proc.stderr[-3000:]
    plots = subprocess.run([sys.executable, "paper_plots/representations.py", "--results-dir", str(tmp / "results")],
                           cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
    assert plots.returncode == 0, plots.stderr[-3000:]
    seconds = time.perf_counter() - start
    summary = json.loads((tmp / "results" / "representations" / "summary.json").read_text())
    return tmp, summary, seconds


@pytest.mark.slow
def test_quick_study_and_plots_run_in_under_two_minutes(quick):
    tmp, summary, seconds = quick
    assert seconds < 120
    figures = tmp / "results" / "figures"
    for name in ("bars", "error_vs_2d", "actions", "gallery", "lsp"):
        assert (figures / f"representations_{name}.png").stat().st_size > 10_000
    table = (figures / "representations.md").read_text()
    assert "Truncated slice" in table and "depth-order pair accuracy" in table
    assert {f"{lf}_{c}" for c, _, lifters in CONDITIONS for lf in lifters} <= set(summary["order"])
    for name in summary["order"]:
        row = summary["rows"][name]
        assert row["status"] == "done" and np.isfinite(row["pa_mpjpe"]) and row["pa_mpjpe"] <= row["mpjpe"] + 1e-9


@pytest.mark.slow
def test_matched_noise_has_the_estimators_mean_2d_error(quick):
    _, summary, _ = quick
    target = summary["estimator"]["test_2d"]["error_px"]
    assert target > 1.0
    for lifter in ("sup", "rel"):
        row = summary["rows"][f"{lifter}_noise"]
        assert abs(row["input2d_error_px"] / target - 1) < 0.05
        assert abs(row["train_input2d_error_px"] / target - 1) < 0.05
    # The rows fed the estimator's 2D see exactly its error; GT rows see none.
    assert summary["rows"]["sup_est"]["input2d_error_px"] == pytest.approx(target, rel=1e-5)
    assert summary["rows"]["sup_gt"]["input2d_error_px"] == 0.0 and summary["rows"]["sup_gt"]["input2d_pck"] == 1.0


@pytest.mark.slow
def test_rows_are_configured_as_named(quick):
    _, summary, _ = quick
    cfg = lambda name: summary["rows"][name]["config"]  # noqa: E731
    assert cfg("sup_gt")["predictions_2d"] is None and cfg("sup_gt")["train_predictions_2d"] is None
    assert cfg("sup_est_test")["eval_only"] and cfg("sup_est_test")["predictions_2d"].endswith("test.npz")
    assert cfg("sup_est")["train_predictions_2d"].endswith("train.npz")
    assert cfg("sup_est_targets")["train_targets_3d"] == "predictions"
    assert cfg("rel_est_labels")["pair_labels_from"] == "predictions"
    assert cfg("rel_mturk_labels")["rel_labels_noise_prob"] == "mturk"
    assert cfg("sup_joints14")["skeleton"] == "lsp_14"
    lifters = [n for n in summary["order"] if not n.startswith("estimator")]
    assert {cfg(n)["stride"] for n in lifters} == {summary["images"]["stride"]}
    trunc = summary["truncated"]
    assert 0 < trunc["fraction_in_crop"] < 1 and {"estimator", "sup_gt", "sup_est"} <= set(trunc["rows"])
    assert summary["lsp"]["rendered"] and summary["lsp"]["num_pairs"] > 0
    assert 0 <= summary["lsp"]["rows"]["estimator"]["pair_accuracy"] <= 1


@pytest.mark.slow
def test_a_rerun_skips_every_finished_stage(quick):
    tmp, summary, _ = quick
    before = (tmp / "results" / "representations" / "predictions" / "test.npz").stat().st_mtime_ns
    proc = study(tmp / "results", tmp / "cache")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "estimator: already trained" in proc.stdout and "already finished" in proc.stdout
    assert (tmp / "results" / "representations" / "predictions" / "test.npz").stat().st_mtime_ns == before
    again = json.loads((tmp / "results" / "representations" / "summary.json").read_text())
    assert again["rows"]["rel_est"]["pa_mpjpe"] == summary["rows"]["rel_est"]["pa_mpjpe"]
    proc = study(tmp / "results", tmp / "cache", "--render-size", "64")
    assert proc.returncode == 2 and "this study was run with images" in proc.stderr


def _one_line_error(proc, results, message):
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr and "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0
    assert not (results / "representations").exists()


@pytest.mark.slow
def test_bad_inputs_are_one_line_errors_and_write_nothing(quick, tmp_path):
    tmp, summary, _ = quick
    cache = tmp / "cache"
    lifter_run = tmp / "results" / "representations" / "sup_gt" / "seed_0"
    _one_line_error(study(tmp_path / "a", cache, "--estimator", lifter_run), tmp_path / "a",
                    "expected an estimator (main_metro.py)")
    (tmp_path / "empty").mkdir()
    _one_line_error(study(tmp_path / "b", cache, "--images", tmp_path / "empty"), tmp_path / "b",
                    "no annotations/ directory")
    # An image folder that lacks some lifting frames.
    images = tmp_path / "partial"
    shutil.copytree(summary["images"]["root"], images)
    data_file = images / "annotations" / "Human36M_subject9_data.json"
    data = json.loads(data_file.read_text())
    data["images"], data["annotations"] = data["images"][5:], data["annotations"][5:]
    data_file.write_text(json.dumps(data))
    _one_line_error(study(tmp_path / "c", cache, "--images", images), tmp_path / "c",
                    "frames have no image (first missing: subject 9")
    _lsp_folder(tmp_path / "lsp", "extended", 3, np.random.default_rng(0))
    (tmp_path / "lsp" / "images" / "im00003.jpg").unlink()
    _one_line_error(study(tmp_path / "d", cache, "--lsp-images", tmp_path / "lsp"), tmp_path / "d",
                    "2 images, but")
    proc = study(tmp_path / "e", cache, "--set", "stride=2")
    assert proc.returncode == 2 and "--set stride: set by the study" in proc.stderr


@pytest.mark.slow
def test_a_predictions_file_missing_frames_stops_the_lifter_in_one_line(quick, tmp_path):
    tmp, summary, _ = quick
    data = dict(np.load(tmp / "results" / "representations" / "predictions" / "test.npz"))
    save_npz(tmp_path / "short.npz", **{k: v[3:] if v.ndim else v for k, v in data.items()})
    cfg = summary["rows"]["sup_est"]["config"]
    proc = subprocess.run([sys.executable, "main_human36.py", "--set", f"data_dir={cfg['data_dir']}",
                           f"cache_dir={cfg['cache_dir']}", "synthetic_size=tiny", "train_subjects=[1]",
                           f"test_subjects={cfg['test_subjects']}", f"predictions_2d={tmp_path / 'short.npz'}",
                           f"out_dir={tmp_path / 'run'}", "epochs=1", "linear_size=16", "progress=false"],
                          cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "short.npz: 3 of" in proc.stderr and "frames have no prediction" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0
    assert not (tmp_path / "run" / "results.json").exists()
