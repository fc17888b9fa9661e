import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from helpers import FILE_ORDER, write_fixture

from lifting.datasets.lsp import (
    centre_on_neck,
    depth_order_labels,
    load_relative_depth_json,
    read_joints_mat,
)
from lifting.errors import UserError
from lifting.geometry.skeletons import LSP_14
from lifting.metrics import pair_accuracy

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

# A person standing upright in the camera frame (x right, y down, z forward; mm), facing the camera:
# the person's left side is at +x. Order = lsp_14.


# A deliberately scrambled joint order for the JSON files (the loader must remap by name).


def test_joints_mat_both_layouts(tmp_path):
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 300, (5, 14, 2))
    visible = rng.random((5, 14)) < 0.7
    # LSP-extended: 14 x 3 x N, flag 1 = visible.
    ext = np.concatenate([xy.transpose(1, 2, 0), visible.T[:, None, :].astype(float)], axis=1)
    scipy.io.savemat(tmp_path / "ext.mat", {"joints": ext})
    # Original LSP: 3 x 14 x N, flag 0 = visible (it is an occlusion flag).
    orig = np.concatenate([xy.transpose(2, 1, 0), (~visible).T[None].astype(float)], axis=0)
    scipy.io.savemat(tmp_path / "orig.mat", {"joints": orig})
    for name in ("ext.mat", "orig.mat"):
        got_xy, got_vis = read_joints_mat(tmp_path / name)
        np.testing.assert_allclose(got_xy, xy, rtol=1e-6)
        np.testing.assert_array_equal(got_vis, visible)
    scipy.io.savemat(tmp_path / "bad.mat", {"joints": np.zeros((2, 14, 3))})
    with pytest.raises(UserError, match="3x14xN"):
        read_joints_mat(tmp_path / "bad.mat")


def test_real_lsp_extended_joints_mat():
    path = SHARED / "lsp" / "joints.mat"
    if not path.is_file():
        pytest.skip(f"shared LSP annotations not present at {path}")
    xy, visible = read_joints_mat(path)
    assert xy.shape == (10000, 14, 2) and visible.shape == (10000, 14)
    assert 0.85 < visible.mean() < 0.91   # the data README states 88.0 %
    # Visible joints lie in the image; the neck is usually below the head top (y down).
    assert xy[visible].min() > -5
    both = visible[:, 12] & visible[:, 13]
    assert np.mean(xy[both, 13, 1] < xy[both, 12, 1]) > 0.6


def test_label_convention_known_case(tmp_path):
    # One image, file order scrambled; annotation says kp1 (left_ankle) is closer than kp0 (head).
    names = list(FILE_ORDER)
    kp = np.arange(28, dtype=float)
    doc = {"joint_names": names, "images": [{
        "im_file": "images/im0001.jpg", "is_train": False, "keypoints": kp.tolist(), "occluded": [0] * 14,
        "anns": [{"kp0": names.index("head"), "kp1": names.index("left_ankle"), "label": 1},
                 {"kp0": names.index("right_wrist"), "kp1": names.index("neck"), "label": 0}]}]}
    (tmp_path / "rel.json").write_text(json.dumps(doc))
    data = load_relative_depth_json(tmp_path / "rel.json")
    head, lank, rwri, neck = (LSP_14.index(n) for n in ("head", "left_ankle", "right_wrist", "neck"))
    np.testing.assert_array_equal(data.ann_pairs, [[head, lank], [rwri, neck]])
    np.testing.assert_array_equal(data.ann_labels, [1, -1])      # +1: kp0 farther
    # Keypoints remapped by name: the head's (x, y) were stored first in the file.
    np.testing.assert_array_equal(data.joints2d_px[0, head], [0, 1])
    np.testing.assert_array_equal(data.joints2d_px[0, lank], 2 * np.array([12, 12]) + [0, 1])
    # A depth map where the head is far and the ankle near, the wrist near and the neck far, is 100 % right.
    depth = np.zeros((2, 14))
    depth[0, head], depth[0, lank] = 6000, 5000
    depth[1, rwri], depth[1, neck] = 4000, 5000
    assert pair_accuracy(depth, data.ann_pairs, data.ann_labels) == 1.0
    assert pair_accuracy(-depth, data.ann_pairs, data.ann_labels) == 0.0
    centred = centre_on_neck(data.joints2d_px)
    np.testing.assert_array_equal(centred[0, LSP_14.root], [0, 0])


def test_written_fixture_round_trips_with_true_depth_labels(tmp_path):
    poses, joints2d, is_train = write_fixture(tmp_path / "rel.json", 20, 10)
    data = load_relative_depth_json(tmp_path / "rel.json")
    assert data.num_images == 30 and data.num_pairs == 150
    np.testing.assert_allclose(data.joints2d_px, joints2d, rtol=1e-5)
    # Labels agree with the true camera depths of the poses.
    assert pair_accuracy(poses[data.ann_image, :, 2], data.ann_pairs, data.ann_labels) == 1.0
    test = data.split(train=False)
    assert test.num_images == 10 and test.num_pairs == 50
    assert pair_accuracy(poses[~is_train][test.ann_image, :, 2], test.ann_pairs, test.ann_labels) == 1.0
    # depth_order_labels: file convention, 1 = kp1 closer.
    assert depth_order_labels(np.array([[[0, 0, 10.0], [0, 0, 5.0]]]), np.array([[0, 1]]))[0] == 1


def test_bad_json_is_one_line_user_error(tmp_path):
    with pytest.raises(UserError, match="relative_depth_lsp_v1.json"):
        load_relative_depth_json(tmp_path / "missing" / "relative_depth_lsp_v1.json")
    (tmp_path / "a.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_relative_depth_json(tmp_path / "a.json")
    (tmp_path / "b.json").write_text(json.dumps({"joint_names": ["head"] * 14, "images": []}))
    with pytest.raises(UserError, match="permutation"):
        load_relative_depth_json(tmp_path / "b.json")
    doc = {"joint_names": list(FILE_ORDER), "images": [{"im_file": "x", "is_train": True,
                                                         "keypoints": [0] * 28, "anns": [{"kp0": 1, "kp1": 1, "label": 1}]}]}
    (tmp_path / "c.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match=r"images\[0\]\.anns\[0\]"):
        load_relative_depth_json(tmp_path / "c.json")


# ------------------------------------------------------------------------------------------ training

def _cfg(tmp_path, json_path, name, *overrides):
    from lifting.config import load_config
    from lifting.options.lsp import SCHEMA

    return load_config(SCHEMA, None, [f"rel_depth_json={json_path}", f"out_dir={tmp_path / name}", "linear_size=64",
                                      "tensorboard=false", "progress=false", "device=cpu", "epochs=6", "threads=1",
                                      *overrides])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from lifting.tasks import run_task

    tmp = tmp_path_factory.mktemp("lsp")
    poses, _, is_train = write_fixture(tmp / "rel.json")
    res = run_task('lsp', _cfg(tmp, tmp / "rel.json", "scratch"))
    return tmp, poses, is_train, res


def test_model_trained_on_labels_beats_chance_and_orders_true_depth(trained):
    tmp, poses, is_train, res = trained
    assert res["pair_accuracy"] > 0.65 and res["train_pair_accuracy"] > 0.65
    assert res["num_test_images"] == 60 and res["num_test_pairs"] == 300
    assert len(res["curve"]) == 6 and res["best_pair_accuracy"] >= res["pair_accuracy"]
    # The physical convention: predicted depth (larger = farther) agrees with the TRUE camera depth on
    # all 91 joint pairs of the test images, not only on the annotated ones.
    with np.load(tmp / "scratch" / "predictions.npz") as npz:
        pred = npz["pred3d"]
        assert npz["ann_correct"].mean() == pytest.approx(res["pair_accuracy"])
    true = poses[~is_train]
    i, j = np.triu_indices(14, 1)
    agree = np.sign(pred[:, i, 2] - pred[:, j, 2]) == np.sign(true[:, i, 2] - true[:, j, 2])
    assert agree.mean() > 0.6
    saved = json.loads((tmp / "scratch" / "results.json").read_text())
    assert saved["pair_accuracy"] == res["pair_accuracy"] and saved["config"]["epochs"] == 6


def test_eval_only_reproduces_the_loaded_run_and_fine_tuning_continues(trained):
    from lifting.tasks import run_task

    tmp, _, _, res = trained
    ev = run_task('lsp', _cfg(tmp, tmp / "rel.json", "eval", f"load={tmp / 'scratch'}", "eval_only=true"))
    assert ev["pair_accuracy"] == pytest.approx(res["pair_accuracy"]) and ev["epochs_run"] == 0
    ft = run_task('lsp', _cfg(tmp, tmp / "rel.json", "ft", f"load={tmp / 'scratch'}", "epochs=2"))
    assert ft["pair_accuracy"] > 0.6 and ft["loaded_from"] == str(tmp / "scratch")
    # A run trained from scratch on LSP carries no Human3.6M limb averages to fine-tune with.
    with pytest.raises(UserError, match="avg_human36"):
        run_task('lsp', _cfg(tmp, tmp / "rel.json", "ft2", f"load={tmp / 'ft'}", "epochs=1", "limb_type=avg_human36"))


def test_a_loaded_model_fine_tunes_in_training_mode(trained, monkeypatch):
    """The loader hands back an eval-mode model; fine-tuning it must run dropout and BatchNorm in training mode."""
    from lifting.tasks import run_task
    from lifting.tasks.lsp import LspTask

    modes, loss = [], LspTask.loss

    def recording_loss(self, net, batch, step):
        modes.append(net.training)
        return loss(self, net, batch, step)

    monkeypatch.setattr(LspTask, "loss", recording_loss)
    tmp = trained[0]
    run_task('lsp', _cfg(tmp, tmp / "rel.json", "ft_mode", f"load={tmp / 'scratch'}", "epochs=1"))
    assert modes and all(modes)


def test_resume_gives_the_same_numbers(tmp_path):
    from lifting.tasks import run_task

    write_fixture(tmp_path / "rel.json", 60, 20)
    full = run_task('lsp', _cfg(tmp_path, tmp_path / "rel.json", "full", "epochs=3"))
    run_task('lsp', _cfg(tmp_path, tmp_path / "rel.json", "part", "epochs=2"))
    resumed = run_task('lsp', _cfg(tmp_path, tmp_path / "rel.json", "part", "epochs=3"), resume=True)
    assert resumed["pair_accuracy"] == full["pair_accuracy"]
    assert [c["train_pair_accuracy"] for c in resumed["curve"]] == [c["train_pair_accuracy"] for c in full["curve"]]


def test_user_errors(tmp_path):
    import subprocess
    import sys

    from lifting.tasks import run_task

    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "main_lsp.py", "--opt", "opts/lsp.yaml", "--set",
                           f"rel_depth_json={tmp_path / 'nowhere.json'}", f"out_dir={tmp_path / 'r'}"],
                          cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "relative_depth_lsp_v1.json" in proc.stderr
    write_fixture(tmp_path / "rel.json", 10, 5)
    with pytest.raises(UserError, match="avg_human36"):
        run_task('lsp', _cfg(tmp_path, tmp_path / "rel.json", "x", "limb_type=avg_human36"))
    with pytest.raises(UserError, match="eval_only"):
        run_task('lsp', _cfg(tmp_path, tmp_path / "rel.json", "y", "eval_only=true"))
