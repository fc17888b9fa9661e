"""Videos in: run_estimator.py on a written clip with tiny random-init models writes per-track (T, K, J, 3) poses and
an overlay; tracking keeps two people through a crossing in a video; corrupt and empty videos are one line."""

import json
import os
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from helpers import run_script

from lifting.checkpoint import save_checkpoint
from lifting.datasets.videos import video_info, write_video
from lifting.geometry.skeletons import H36M_17
from lifting.inference.sequences import video_poses
from lifting.models.detector import PersonDetector
from lifting.models.metro import MetroNet
from lifting.viz import overlay_poses

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
W, H = 128, 96


def _save(path: Path, kind: str, model: torch.nn.Module) -> Path:
    save_checkpoint(path, {"kind": kind, "model": model.state_dict(),
                           "extra": {"task": {"arch": model.arch()}, "config": {}}})
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:
    """Random-init estimator and detector checkpoints. The detector keeps its 2 best boxes whatever their score, and
    its box regression is biased so that they are person-sized rather than a pixel wide."""
    d = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    detector = PersonDetector("mobilenet_v3_small", 64, (H, W), score_thresh=0.0, max_detections=2)
    with torch.no_grad():
        detector.fcos.head.regression_head.bbox_reg.bias.fill_(2.0)
    return (_save(d / "est.pt", "estimator", MetroNet(backbone="resnet18", stride=32, crop_size=64)),
            _save(d / "det.pt", "detector", detector))



def run_estimator(tmp_path, *args):
    return run_script("run_estimator.py", tmp_path, *args)


def _clip(path: Path, num: int = 5) -> Path:
    """A small clip: noise over a bright block moving right."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 60, (num, H, W, 3), dtype=np.uint8)
    for t in range(num):
        frames[t, 20:80, 20 + 8 * t:50 + 8 * t] = 200
    return write_video(path, frames, fps=10)


def test_video_writes_tracks_an_overlay_and_a_page(tmp_path, models):
    est, det = models
    _clip(tmp_path / "clip.mp4")
    code, out, err = run_estimator(tmp_path, "clip.mp4", "--ckpt", est, "--detector", det, "--min-score", "0",
                                   "--plausibility", "none", "--frame-batch", "2", "--smooth", "--html", "clip.html")
    assert code == 0, err
    saved = np.load(tmp_path / "clip_poses.npz")
    T, K = saved["poses3d"].shape[:2]
    assert T == 5 and K >= 2 and saved["poses3d"].shape[2:] == (17, 3) and saved["poses2d"].shape == (5, K, 17, 2)
    assert saved["boxes"].shape == (5, K, 4) and saved["scores"].shape == (5, K) and len(saved["track_ids"]) == K
    # two detections per frame: every frame has exactly two tracks present
    assert (np.isfinite(saved["scores"]).sum(1) == 2).all()
    assert float(saved["fps"]) == pytest.approx(10.0)
    meta = json.loads(str(saved["metadata"]))
    assert "5 frames x" in meta["sequence"] and "z forward" in meta["poses3d"] and meta["smoothing"].startswith("Savitzky-Golay over 9 frames")
    info = video_info(tmp_path / "clip_poses.mp4")
    assert (info.num_frames, info.width, info.height) == (5, W, H)
    assert "plotly" in (tmp_path / "clip.html").read_text()


def test_detector_on_images_writes_everybody(tmp_path, models):
    from PIL import Image

    est, det = models
    rng = np.random.default_rng(1)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(tmp_path / name)
    code, out, err = run_estimator(tmp_path, "a.png", "b.png", "--ckpt", est, "--detector", det, "--min-score", "0",
                                   "--plausibility", "none", "--out", "p.npz", "--html", "p.html")
    assert code == 0, err
    saved = np.load(tmp_path / "p.npz")
    assert saved["image_index"].tolist() == [0, 0, 1, 1] and saved["poses3d"].shape == (4, 17, 3)
    assert saved["scores"].shape == (4,) and (np.diff(saved["scores"][:2]) <= 0).all()    # by falling score
    np.testing.assert_allclose(saved["poses3d_rel"][:, 0], 0.0, atol=1e-3)
    assert "detector" in json.loads(str(saved["metadata"]))["content"] and (tmp_path / "p.html").is_file()


def _empty_video(path: Path) -> Path:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        container.start_encoding()      # the header is written, no frame follows
    return path


@pytest.mark.parametrize("make, needle", [
    (lambda p: p.write_bytes(os.urandom(4000)), "not a readable video"),
    (_empty_video, "video holds no frames"),
    (lambda p: None, "video file not found"),
])
def test_corrupt_and_empty_videos_are_one_line_and_write_nothing(tmp_path, models, make, needle):
    est, det = models
    make(tmp_path / "bad.mp4")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run_estimator(tmp_path, "bad.mp4", "--ckpt", est, "--detector", det)
    assert code == 2 and err.startswith("error: bad.mp4: ") and err.count("\n") == 1 and needle in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("args, needle", [
    (["clip.mp4", "--box", "1,1,5,5"], "--box applies to images"),
    (["clip.mp4", "--detector", "d.pt", "--box", "1,1,5,5"], "give --box or --detector, not both"),
    (["img.png", "--smooth"], "--overlay and --smooth apply to a video input"),
    (["clip.mp4", "--detector", "d.pt", "--overlay", "o.avi"], "--overlay o.avi: expected a file ending in .mp4"),
    (["img.png", "--box", "1,1,5,5", "--rootnet", "r.pt"], "--rootnet needs --detector"),
])
def test_bad_flags_are_one_line_before_any_work(tmp_path, args, needle):
    code, _, err = run_estimator(tmp_path, *args, "--ckpt", "no_such_run")
    assert code == 2 and err.count("\n") == 1 and needle in err, err


SHAPE = np.random.default_rng(2).uniform([-10, -18], [10, 18], (17, 2))   # one stick figure for both people


def _crossing_video(path: Path, frames: int = 13) -> np.ndarray:
    """Two identical stick figures in a 192x144 clip: A walks right along y = 40, B left along y = 100, passing each
    other at frame 6. Returns their (T, 2, 17, 2) px joints (person axis = identity)."""
    t = np.arange(frames)[:, None]
    a = np.concatenate([30 + 11 * t, 40 + 0 * t], 1)
    b = np.concatenate([162 - 11 * t, 100 + 0 * t], 1)
    truth = np.stack([a[:, None] + SHAPE, b[:, None] + SHAPE], 1)
    write_video(path, (overlay_poses(np.zeros((144, 192, 3), np.uint8), truth[i], H36M_17) for i in range(frames)),
                fps=10)
    return truth


def _blob_detector(seed: int = 0):
    """A stand-in for detect_poses on the stick-figure clip: each connected bright blob is a person, its 2D pose the
    figure's shape placed in the blob's box; people are listed in a random order per frame, so only tracking can
    tell who is who."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    offset = SHAPE.min(0)

    def detect(images: torch.Tensor) -> list[dict]:
        out = []
        for image in images.numpy():
            labels, count = ndimage.label(image.max(0) > 0.25)
            boxes = []
            for rows, cols in ndimage.find_objects(labels):
                boxes.append([cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start])
            boxes = np.array(boxes, float)[rng.permutation(count)]
            poses2d = SHAPE - offset + boxes[:, None, :2]
            out.append({"boxes": boxes, "scores": np.ones(count), "poses2d": poses2d,
                        "poses3d": np.concatenate([poses2d, np.full((count, 17, 1), 5000.0)], -1)})
        return out

    return detect


def test_tracking_keeps_both_people_through_a_crossing_in_a_video(tmp_path):
    truth = _crossing_video(tmp_path / "cross.mp4")
    res = video_poses(tmp_path / "cross.mp4", _blob_detector(), batch_size=4)
    assert res.poses2d.shape == (13, 2, 17, 2) and res.size == (192, 144) and res.fps == pytest.approx(10.0)
    assert np.isfinite(res.poses2d).all()
    for k in range(2):
        person = int(np.argmin(np.abs(res.poses2d[0, k].mean(0) - truth[0].mean(1)).sum(-1)))
        # the blob box is the drawn figure (3 px lines): within a few px of the truth in every frame
        np.testing.assert_allclose(res.poses2d[:, k], truth[:, person], atol=4.0)
    # the left-right order swaps at the crossing, the identities do not
    assert np.sign(res.poses2d[0, 0, 0, 0] - res.poses2d[0, 1, 0, 0]) != np.sign(
        res.poses2d[-1, 0, 0, 0] - res.poses2d[-1, 1, 0, 0])
