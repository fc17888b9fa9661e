"""Multi-person scenes: placement geometry, labels from the shared z-buffer, the written layout read back."""

import json
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import standing_pose

from lifting.datasets.h36m import ACTIONS
from lifting.datasets.scenes import read_scenes
from lifting.errors import UserError
from lifting.geometry.cameras import project
from lifting.synth.render import render_mannequin
from lifting.synth.scenes import SceneOptions, Scenes, load_pose_pool, render_scenes, sample_scenes, scene_camera
from lifting.synth.writer import write_scene_dataset

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def pool(tiny_h36m):
    return load_pose_pool(tiny_h36m, [1, 5])


def test_scene_camera_stands_at_its_height_looking_along_y():
    R, t = scene_camera(1500.0, 10.0)
    assert np.allclose(R @ R.T, np.eye(3)) and np.isclose(np.linalg.det(R), 1)
    assert np.allclose(-R.T @ t, [0, 0, 1500])                       # camera centre
    assert np.allclose(R[2], [0, np.cos(np.radians(10)), -np.sin(np.radians(10))])   # optical axis, tilted down
    assert (R @ [0, 0, -1])[1] > 0.98                                 # world down is image down


def test_sampled_scenes_put_people_on_the_floor_within_range(pool):
    opts = SceneOptions(people=(2, 4), min_gap_mm=600.0)
    s = sample_scenes(pool, 40, opts, np.random.default_rng(0))
    n = s.present.sum(1)
    assert n.min() >= 1 and n.max() <= 4 and (n >= 2).mean() > 0.9
    assert np.allclose(s.joints_cam, s.joints_world @ s.R.transpose(0, 2, 1)[:, None] + s.t[:, None, None])
    for b in range(40):
        rows = s.pose_index[b][s.present[b]]
        assert len(set(rows.tolist())) == len(rows)                 # every person a different pool frame
        roots = s.joints_world[b, s.present[b], 0, :2]
        assert ((roots[:, 1] >= 2000) & (roots[:, 1] <= 9000)).all()  # ground distance along the view
        gaps = np.linalg.norm(roots[:, None] - roots[None], axis=-1)[~np.eye(len(roots), dtype=bool)]
        assert (gaps >= 600).all()
        for p, row in enumerate(s.pose_index[b]):
            if row >= 0:  # turned about the vertical and moved on the floor: heights and bone lengths kept
                assert np.allclose(s.joints_world[b, p, :, 2], pool.joints_world[row, :, 2])
                src = pool.joints_world[row]
                assert np.allclose(np.linalg.norm(s.joints_world[b, p] - s.joints_world[b, p, :1], axis=-1),
                                   np.linalg.norm(src - src[:1], axis=-1))


def test_scene_options_are_checked():
    with pytest.raises(UserError, match="people per image 3,2"):
        SceneOptions(people=(3, 2)).check()
    with pytest.raises(UserError, match="scene distance"):
        SceneOptions(distance_mm=(100.0, 9000.0)).check()


def _standing(x: float, depth: float) -> np.ndarray:
    return standing_pose(depth).numpy().astype(np.float64) + np.array([x, 0.0, 0.0])


def _scene(people: list[np.ndarray]) -> Scenes:
    K = np.array([[300.0, 0, 159.5], [0, 300.0, 119.5], [0, 0, 1]])
    cam = np.stack(people)[None]
    return Scenes(joints_world=cam, joints_cam=cam, present=np.ones((1, len(people)), bool),
                  pose_index=np.arange(len(people))[None], K=K[None], R=np.eye(3)[None], t=np.zeros((1, 3)),
                  width=320, height=240)


def test_labels_follow_the_shared_z_buffer():
    # A in front at 4 m; B straight behind A at 8 m (hidden but for a sliver); C 20 m to the side (out of view)
    out = render_scenes(_scene([_standing(0, 4000), _standing(0, 8000), _standing(20000, 5000)]),
                        torch.Generator().manual_seed(0))
    assert out.in_view[0].tolist() == [True, True, False]
    assert out.joint_visible[0, 0].all()
    # B's joint is visible exactly where A, rendered alone, does not cover its pixel (A is wholly in front of B)
    scene = _scene([_standing(0, 4000)])
    a_mask = render_mannequin(torch.tensor(scene.joints_cam[0], dtype=torch.float32),
                              torch.tensor(scene.K[0], dtype=torch.float32), (240, 320), occluder_prob=0.0).mask[0]
    b_px = torch.round(out.joints2d_px[0, 1]).long()
    assert out.joint_visible[0, 1].tolist() == (~a_mask[b_px[:, 1], b_px[:, 0]]).tolist()
    assert 0 < out.joint_visible[0, 1].sum() < 17                  # legs between A's legs, hands beside its chest
    assert not out.joint_visible[0, 2].any() and (out.boxes[0, 2] == 0).all()
    # A's box is its silhouette: it holds every projected joint of A and lies inside the image
    x0, y0, x1, y1 = out.boxes[0, 0].tolist()
    uv = out.joints2d_px[0, 0]
    assert x0 <= uv[:, 0].min() and uv[:, 0].max() <= x1 and y0 <= uv[:, 1].min() and uv[:, 1].max() <= y1
    assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 240
    # moved 1.5 m to the side, B is in full view and all its joints count
    out = render_scenes(_scene([_standing(0, 4000), _standing(1500, 8000)]), torch.Generator().manual_seed(0))
    assert out.joint_visible[0, 1].all() and out.in_view[0].all()


def test_written_scenes_read_back(pool, tmp_path):
    opts = SceneOptions(width=96, height=64, people=(1, 3))
    images, people = write_scene_dataset(tmp_path, "test", pool, 5, opts, seed=2, batch_size=2)
    ds = read_scenes(tmp_path, "test")
    assert images == 5 and len(ds.images) == 5 and len(ds) == people
    assert np.abs(project(ds.joints3d_cam, ds.f, ds.c) - ds.joints2d_px).max() < 2e-3
    for i in range(len(ds)):   # every person is its source frame, turned and moved: same bone lengths and heights
        row = np.flatnonzero((pool.subject == ds.subject[i]) & (pool.frame == ds.frame[i])
                             & (pool.subaction == ds.subaction[i]) & (pool.action == ACTIONS.index(ds.action[i])))
        assert len(row) == 1
        src = pool.joints_world[row[0]]
        assert np.allclose(ds.joints3d_world[i, :, 2], src[:, 2], atol=1e-2)
    # the same seed writes the same annotations
    write_scene_dataset(tmp_path / "again", "test", pool, 5, opts, seed=2, batch_size=5)
    a = json.loads((tmp_path / "annotations" / "test.json").read_text())
    b = json.loads((tmp_path / "again" / "annotations" / "test.json").read_text())
    assert a == b


def test_broken_scene_files_are_one_line_errors(pool, tmp_path):
    write_scene_dataset(tmp_path, "s", pool, 2, SceneOptions(width=64, height=48, people=(2, 2)), seed=1)
    path = tmp_path / "annotations" / "s.json"
    data = json.loads(path.read_text())
    data["annotations"][0]["bbox"] = [10, 10, 100, 10]
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match=r"s.json: annotation 0 bbox .* is not inside the 64x48 image"):
        read_scenes(tmp_path, "s")
    data["annotations"][0]["bbox"] = [1, 1, 2, 2]
    data["annotations"][0]["keypoints_cam"] = [[0, 0, 1000]] * 16
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match=r"annotation 0 keypoints_cam has shape \(16, 3\)"):
        read_scenes(tmp_path, "s")
    path.write_text("{")
    with pytest.raises(UserError, match="s.json"):
        read_scenes(tmp_path, "s")
    with pytest.raises(UserError, match="nope.json"):
        read_scenes(tmp_path, "nope")


def test_render_dataset_writes_scenes_and_refuses_bad_scene_options(tiny_h36m, tmp_path, capsys):
    main = runpy.run_path(str(Path(__file__).resolve().parents[1] / "render_dataset.py"), run_name="test")["main"]
    base = ["--data-dir", str(tiny_h36m), "--subjects", "8", "--stride", "1", "--cache-dir", str(tmp_path / "c"),
            "--threads", "1"]
    assert main([*base, "--out", str(tmp_path / "out"), "--scenes", "3", "--people-per-image", "2,3",
                 "--scene-size", "80,60"]) == 0
    ds = read_scenes(tmp_path / "out", "S8")
    assert len(ds.images) == 3 and set(ds.subject.tolist()) == {8} and ds.width[0] == 80 and ds.height[0] == 60
    assert np.bincount(ds.image_index, minlength=3).max() <= 3
    capsys.readouterr()
    for flags, message in [(["--people-per-image", "3,2"], "--people-per-image 3,2: expected MIN,MAX"),
                           (["--people-per-image", "0,2"], "--people-per-image"),
                           (["--people-per-image", "17,20"], "--people-per-image"),
                           (["--distance", "100,9000"], "--distance"),
                           (["--scene-size", "640"], "--scene-size '640': expected 2"),
                           (["--split", "../x"], "--split")]:
        assert main([*base, "--out", str(tmp_path / "bad"), "--scenes", "2", *flags]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "bad").exists()
