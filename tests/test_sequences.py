"""Sequences of 2D keypoints: (T, J, 2) and (T, P, J, 2) arrays, OpenPose folders with empty frames, COCO track
ids; run_model.py on them keeps identities and gaps, smooths, and writes per-track arrays, an animation and a page."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import run_script, train_lifter

from lifting.datasets.keypoints import prepare_h36m17, read_keypoints
from lifting.errors import UserError
from lifting.metrics import mpjve_errors

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]


def _pose(rng, centre) -> np.ndarray:
    """(17, 2) px: random joints within 60 px of `centre`."""
    return np.asarray(centre, float) + rng.uniform(-60, 60, (17, 2))


def test_npy_sequence_rule(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "walk.npy", np.stack([_pose(rng, (300, 200)) for _ in range(5)]))
    # by default (T, J, 2) stays N unrelated poses; as a sequence it is one person's track
    assert read_keypoints([tmp_path / "walk.npy"], "h36m_17").track.tolist() == [-1] * 5
    kp = read_keypoints([tmp_path / "walk.npy"], "h36m_17", sequence=True)
    assert kp.track.tolist() == [0] * 5 and kp.image.tolist() == kp.frames.tolist() == ["0", "1", "2", "3", "4"]


def test_people_array_keeps_identities_and_absences(tmp_path):
    rng = np.random.default_rng(1)
    arr = np.stack([[_pose(rng, (200, 200)), _pose(rng, (500, 200))] for _ in range(4)])   # (4, 2, 17, 2)
    arr[2, 0] = np.nan                      # person 0 absent in frame 2
    arr[1, 1, 3] = np.nan                   # one missing keypoint of person 1 in frame 1
    np.save(tmp_path / "two.npy", arr)
    kp = read_keypoints([tmp_path / "two.npy"], "h36m_17")
    assert kp.image.tolist() == ["0", "0", "1", "1", "2", "3", "3"]
    assert kp.track.tolist() == [0, 1, 0, 1, 1, 0, 1] and kp.person.tolist() == kp.track.tolist()
    assert kp.frames.tolist() == ["0", "1", "2", "3"]
    assert kp.present.sum() == 7 * 17 - 1 and not kp.present[3, 3]
    np.testing.assert_allclose(kp.joints_px[4], arr[2, 1])
    joints, kept = prepare_h36m17(kp)
    assert kept.track.tolist() == kp.track.tolist() and np.isfinite(joints).all()
    np.save(tmp_path / "empty.npy", np.full((3, 2, 17, 2), np.nan))
    with pytest.raises(UserError, match="empty.npy: contains no poses"):
        read_keypoints([tmp_path / "empty.npy"], "h36m_17")


def _openpose(people) -> dict:
    return {"version": 1.3, "people": [{"person_id": [pid], "pose_keypoints_2d": kp} for pid, kp in people]}


def _person25(rng, x) -> list:
    return np.concatenate([rng.uniform(x - 50, x + 50, (25, 1)), rng.uniform(100, 300, (25, 1)),
                           np.full((25, 1), 0.9)], 1).ravel().tolist()


def test_openpose_folder_counts_empty_frames_and_reads_person_ids(tmp_path):
    rng = np.random.default_rng(2)
    frames = [[(-1, _person25(rng, 200))], [], [(-1, _person25(rng, 210))]]
    for t, people in enumerate(frames):
        (tmp_path / f"clip_{t:012d}_keypoints.json").write_text(json.dumps(_openpose(people)))
    kp = read_keypoints([tmp_path], None)
    assert kp.frames.tolist() == [f"clip_{t:012d}_keypoints" for t in range(3)]
    assert kp.image.tolist() == [kp.frames[0], kp.frames[2]] and kp.track.tolist() == [-1, -1]
    (tmp_path / "clip_000000000003_keypoints.json").write_text(
        json.dumps(_openpose([(7, _person25(rng, 200)), (3, _person25(rng, 400))])))
    assert read_keypoints([tmp_path], None).track.tolist() == [-1, -1, 7, 3]
    (tmp_path / "clip_000000000004_keypoints.json").write_text(json.dumps(_openpose([("a", _person25(rng, 200))])))
    with pytest.raises(UserError, match=r"clip_000000000004_keypoints.json: people\[0\].person_id must be an integer"):
        read_keypoints([tmp_path], None)


def test_coco_track_ids_and_frames_in_numeric_order(tmp_path):
    rng = np.random.default_rng(3)

    def entry(image_id, track=None):
        kp = np.concatenate([rng.uniform(50, 400, (17, 2)), np.full((17, 1), 0.9)], 1).ravel().tolist()
        return {"image_id": image_id, "keypoints": kp, **({} if track is None else {"track_id": track})}

    path = tmp_path / "tracks.json"
    path.write_text(json.dumps([entry(10, 5), entry(2, 5), entry(2, 8), entry(9, 8)]))
    kp = read_keypoints([path], None)
    assert kp.frames.tolist() == ["2", "9", "10"] and kp.track.tolist() == [5, 5, 8, 8]
    path.write_text(json.dumps([entry(1), entry(2)]))
    assert read_keypoints([path], None).track.tolist() == [-1, -1]
    ann = {"images": [{"id": i, "file_name": f"f{i}.jpg"} for i in range(3)],
           "annotations": [entry(0, 1), entry(2, 1)]}
    path.write_text(json.dumps(ann))
    kp = read_keypoints([path], None)      # the image list names every frame, f1.jpg without people included
    assert kp.frames.tolist() == ["f0.jpg", "f1.jpg", "f2.jpg"] and kp.image.tolist() == ["f0.jpg", "f2.jpg"]
    path.write_text(json.dumps([entry(1, 2.5)]))
    with pytest.raises(UserError, match=r"tracks.json: \[0\].track_id must be an integer"):
        read_keypoints([path], None)


@pytest.fixture(scope="module")
def lifter(tmp_path_factory, tiny_h36m):
    """A lifter trained for a few seconds on the tiny synthetic data (h36m_17 in and out)."""
    return train_lifter(tmp_path_factory.mktemp("lifter") / "run", tiny_h36m, "epochs=20", "linear_size=128",
                        "batch_size=64", "train_subjects=[1,5,6,7,8]")


@pytest.fixture(scope="module")
def walk(tiny_h36m) -> np.ndarray:
    """(20, 17, 2) px: one person moving smoothly, blending between two synthetic poses while walking right
    at 3 px per frame."""
    from lifting.datasets.h36m import load_h36m

    a, b = load_h36m(tiny_h36m, [9], cameras=(2,)).joints2d_px[[0, 50]].astype(np.float64)
    w = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, 20)))[:, None, None]
    return (1 - w) * a + w * b + np.array([3.0, 0.0]) * np.arange(20)[:, None, None]



def run_model(tmp_path, *args):
    return run_script("run_model.py", tmp_path, *args)


def test_people_sequence_writes_per_track_arrays_that_follow_the_input(tmp_path, lifter, walk):
    two = np.stack([walk[:6], walk[6:12] + np.array([400.0, 0.0])], 1)        # (6, 2, 17, 2)
    two[3, 1] = np.nan                                                        # person 1 absent in frame 3
    np.save(tmp_path / "two.npy", two)
    np.save(tmp_path / "swapped.npy", two[:, ::-1])
    code, out, err = run_model(tmp_path, "two.npy", "--ckpt", lifter, "--save-3d", "two.npz", "--animation",
                               "two.gif", "--html", "two.html")
    assert code == 0, err
    saved = np.load(tmp_path / "two.npz")
    assert saved["poses3d"].shape == (6, 2, 17, 3) and saved["track_ids"].tolist() == [0, 1]
    assert saved["frames"].tolist() == [str(t) for t in range(6)]
    np.testing.assert_allclose(saved["joints2d"], two, atol=1e-3)            # each track is its input person
    assert np.isnan(saved["poses3d"][3, 1]).all()
    assert np.isfinite(saved["poses3d"].reshape(12, 17, 3)[np.arange(12) != 7]).all()
    meta = json.loads(str(saved["metadata"]))
    assert meta["track_ids"] == [0, 1] and "6 frames x 2 tracks" in meta["sequence"] and meta["units"] == "mm"
    # a track's 3D is the lift of its own 2D: each frame lifted alone gives the same numbers
    np.save(tmp_path / "one.npy", two[5, 1])
    code, _, err = run_model(tmp_path, "one.npy", "--ckpt", lifter, "--save-3d", "one.npy")
    assert code == 0, err
    np.testing.assert_allclose(saved["poses3d"][5, 1], np.load(tmp_path / "one.npy")[0], atol=1e-3)
    # swapping the people in the input swaps the tracks
    code, _, err = run_model(tmp_path, "swapped.npy", "--ckpt", lifter, "--save-3d", "swapped.npz")
    assert code == 0, err
    np.testing.assert_allclose(np.load(tmp_path / "swapped.npz")["poses3d"], saved["poses3d"][:, ::-1], atol=1e-3)
    from PIL import Image

    with Image.open(tmp_path / "two.gif") as gif:
        assert gif.n_frames == 6
    page = (tmp_path / "two.html").read_text()
    assert "<html>" in page[:100] and "plotly" in page and "person 1" in page and len(page) > 1_000_000


def _openpose_frame(pose17) -> dict:
    from lifting.geometry.keypoint_formats import OPENPOSE_25
    from lifting.geometry.skeletons import H36M_17

    idx = {n: i for i, n in enumerate(H36M_17.joint_names)}
    kp = np.zeros((25, 3))
    for i, name in enumerate(OPENPOSE_25):
        src = {"nose": "chin", "mid_hip": "mid_hip"}.get(name, name)
        if src in idx:
            kp[i] = [*pose17[idx[src]], 0.8]
    return {"people": [{"person_id": [-1], "pose_keypoints_2d": kp.ravel().tolist()}]}


def test_openpose_folder_with_an_empty_frame_keeps_the_gap(tmp_path, lifter, walk):
    folder = tmp_path / "frames"
    folder.mkdir()
    for t in range(5):
        frame = {"people": []} if t == 2 else _openpose_frame(walk[t])
        (folder / f"clip_{t:012d}_keypoints.json").write_text(json.dumps(frame))
    code, out, err = run_model(tmp_path, "frames", "--ckpt", lifter, "--sequence", "--save-3d", "seq.npy")
    assert code == 0, err
    poses = np.load(tmp_path / "seq.npy")
    meta = json.loads((tmp_path / "seq.json").read_text())
    assert poses.shape == (5, 1, 17, 3) and meta["frames"][2] == "clip_000000000002_keypoints"
    assert np.isnan(poses[2]).all() and np.isfinite(poses[[0, 1, 3, 4]]).all()


def test_tracking_without_ids_keeps_people_through_a_crossing(tmp_path, lifter, walk):
    """COCO results without track ids, people listed in a shuffled order: A walks right, B left, crossing at frame
    5 with B 80 px lower; each output track must carry one person's 2D in every frame."""
    from test_run_model import coco_person

    rng = np.random.default_rng(0)
    shape = walk[0] - walk[0].mean(0)
    truth = np.stack([[shape + [300 + 40 * t, 300], shape + [700 - 40 * t, 380]] for t in range(11)])
    results = []
    for t in range(11):
        for p in rng.permutation(2):
            results.append({"image_id": t, "category_id": 1, "keypoints": coco_person(truth[t, p])})
    (tmp_path / "res.json").write_text(json.dumps(results))
    code, _, err = run_model(tmp_path, "res.json", "--ckpt", lifter, "--sequence", "--save-3d", "res.npz")
    assert code == 0, err
    saved = np.load(tmp_path / "res.npz")
    assert saved["poses3d"].shape == (11, 2, 17, 3)
    hips = saved["joints2d"][:, :, 0]                                         # (T, K, 2) pelvis px
    for k in range(2):
        person = int(np.argmin(np.abs(hips[0, k] - truth[0, :, 0]).sum(-1)))
        np.testing.assert_allclose(hips[:, k], truth[:, person, 0], atol=1.0)


def test_smooth_lowers_the_jitter_of_a_noisy_sequence(tmp_path, lifter, walk):
    rng = np.random.default_rng(4)
    noisy = walk + rng.normal(0, 6.0, walk.shape)
    np.save(tmp_path / "clean.npy", walk)
    np.save(tmp_path / "noisy.npy", noisy)
    results = {}
    for name, args in {"clean": ["clean.npy"], "raw": ["noisy.npy", "--sequence"],
                       "smooth": ["noisy.npy", "--smooth"]}.items():
        code, _, err = run_model(tmp_path, *args, "--ckpt", lifter, "--save-3d", f"{name}.npz")
        assert code == 0, err
        results[name] = np.load(tmp_path / f"{name}.npz")["poses3d"].reshape(20, 17, 3).astype(np.float64)
    raw = np.nanmean(mpjve_errors(results["raw"], results["clean"]))
    smooth = np.nanmean(mpjve_errors(results["smooth"], results["clean"]))
    assert smooth < 0.6 * raw, (smooth, raw)
    meta = json.loads(str(np.load(tmp_path / "smooth.npz")["metadata"]))
    assert meta["smoothing"].startswith("Savitzky-Golay over 9 frames")


@pytest.mark.parametrize("args, needle", [
    (["--smooth", "--smooth-window", "4"], "--smooth-window 4: expected an odd number"),
    (["--smooth", "--smooth-method", "median"], "invalid choice"),
    (["--html", "page.htm"], "--html page.htm: expected a file ending in .html"),
])
def test_bad_sequence_flags_are_one_line(tmp_path, lifter, walk, args, needle):
    np.save(tmp_path / "p.npy", walk)
    code, _, err = run_model(tmp_path, "p.npy", "--ckpt", lifter, *args)
    assert code == 2 and err.count("\n") == 1 and needle in err, err


def test_views_place_several_people_by_their_image_position():
    """Root-relative 3D twice the size of the 2D in px (2 mm per px); roots at u = 100 and 500 px, median 300: the
    views move the people 400 mm left and right, and leave a lone person at the origin."""
    spec = importlib.util.spec_from_file_location("run_model", ROOT / "run_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(5)
    shape2d = rng.normal(0, 30, (17, 2))
    shape2d -= shape2d[0]
    shape3d = np.concatenate([2 * shape2d, np.zeros((17, 1))], -1)
    joints2d = np.stack([shape2d + [100, 200], shape2d + [500, 200]])[None]          # (1, 2, 17, 2)
    placed = module._side_by_side(np.stack([shape3d, shape3d])[None], joints2d, 0)
    np.testing.assert_allclose(placed[0, :, 0], [[-400, 0, 0], [400, 0, 0]], atol=1e-9)
    np.testing.assert_allclose(placed[0, 1] - placed[0, 1, 0], shape3d)
    np.testing.assert_array_equal(module._side_by_side(shape3d[None, None], joints2d[:, :1], 0), shape3d[None, None])
