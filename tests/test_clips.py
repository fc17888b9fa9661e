"""Rendered clips (lifting.synth.clips, render_dataset.py --clip): placement, a fixed appearance, the ground truth
written beside the video."""

import runpy
from pathlib import Path

import numpy as np
import pytest

from lifting.datasets.videos import read_frames, video_info
from lifting.errors import UserError
from lifting.geometry.skeletons import convert
from lifting.synth.clips import clip_frames, make_clip, write_clip
from tests.helpers import world_poses as world_poses_32


def world_poses(n: int, seed: int) -> np.ndarray:
    return convert(world_poses_32(n, seed), "h36m_32", "h36m_17")


def test_make_clip_puts_each_mean_root_on_its_spot_and_keeps_the_motion():
    walk = world_poses(6, seed=1)                                          # (6, 17, 3) world mm
    other = world_poses(6, seed=2)
    spots = np.array([[-1000.0, 5000.0], [800.0, 6000.0]])
    clip = make_clip([walk, other], spots, fps=10, width=320, height=240, pitch_deg=0.0)
    assert clip.joints_world.shape == (6, 2, 17, 3)
    np.testing.assert_allclose(clip.joints_world[:, :, 0, :2].mean(0), spots, atol=1e-9)
    np.testing.assert_allclose(np.diff(clip.joints_world[:, 0], axis=0), np.diff(walk, axis=0), atol=1e-9)
    np.testing.assert_allclose(clip.joints_world[..., 2], np.stack([walk, other], 1)[..., 2])   # heights kept
    # An unpitched camera 1 m up looking along +y: camera z = world y, camera y = 1000 - world z.
    np.testing.assert_allclose(clip.joints_cam[..., 2], clip.joints_world[..., 1], atol=1e-9)
    np.testing.assert_allclose(clip.joints_cam[..., 1], 1000.0 - clip.joints_world[..., 2], atol=1e-9)
    with pytest.raises(UserError, match="equal length"):
        make_clip([walk, other[:3]], spots, fps=10)


def test_a_still_person_gives_identical_frames_and_the_video_round_trips(tmp_path):
    still = np.repeat(world_poses(1, seed=3), 4, axis=0)
    clip = make_clip([still], np.array([[0.0, 4000.0]]), fps=5, width=96, height=64)
    frames = list(clip_frames(clip, seed=7))
    assert len(frames) == 4 and frames[0].shape == (64, 96, 3) and frames[0].dtype == np.uint8
    assert all(np.array_equal(frames[0], f) for f in frames[1:])           # appearance drawn once per clip
    assert not np.array_equal(frames[0], next(clip_frames(clip, seed=8)))  # ... and it depends on the seed
    video, truth, keypoints = write_clip(tmp_path / "c.mp4", clip, seed=7)
    info = video_info(video)
    assert (info.num_frames, info.width, info.height, info.fps) == (4, 96, 64, 5.0)
    back = np.concatenate(list(read_frames(video)))
    assert np.abs(back.astype(int) - frames[0].astype(int)).mean() < 6     # H.264 at crf 18
    saved = np.load(truth)
    np.testing.assert_allclose(saved["joints_cam"], clip.joints_cam)
    np.testing.assert_allclose(saved["K"], clip.K)
    f, (cx, cy) = clip.K[0, 0], clip.K[:2, 2]
    x, y, z = np.moveaxis(clip.joints_cam, -1, 0)
    np.testing.assert_allclose(np.load(keypoints), np.stack([f * x / z + cx, f * y / z + cy], -1))
    np.testing.assert_allclose(saved["joints2d_px"], np.load(keypoints))


def test_render_dataset_clip(tiny_h36m, tmp_path, capsys):
    main = runpy.run_path(str(Path(__file__).resolve().parents[1] / "render_dataset.py"), run_name="test")["main"]
    base = ["--data-dir", str(tiny_h36m), "--subjects", "9", "--cache-dir", str(tmp_path / "c"), "--threads", "1"]
    assert main([*base, "--clip", str(tmp_path / "walk.gif"), "--clip-people", "2", "--clip-frames", "3",
                 "--fps", "5"]) == 0
    truth = np.load(tmp_path / "walk.npz")
    assert truth["joints_cam"].shape == (3, 2, 17, 3) and float(truth["fps"]) == 5.0
    assert video_info(tmp_path / "walk.gif").num_frames == 3
    assert np.load(tmp_path / "walk_2d.npy").shape == (3, 2, 17, 2)
    capsys.readouterr()
    for flags, message in [(["--clip", str(tmp_path / "x.avi")], "--clip"),
                           (["--clip", str(tmp_path / "x.mp4"), "--out", str(tmp_path / "o")], "exactly one of"),
                           (["--clip", str(tmp_path / "x.mp4"), "--clip-people", "99"], "--clip-people"),
                           (["--clip", str(tmp_path / "x.mp4"), "--clip-action", "Flying"], "--clip-action")]:
        assert main([*base, *flags]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "x.mp4").exists() and not (tmp_path / "o").exists()
