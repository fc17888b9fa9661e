"""Every reader of a user file, fed random bytes, truncations of a valid file and valid files of the wrong shape
(type-confused structures), either reads it or raises one `UserError` line that names the file: never another
exception, never a traceback."""

import contextlib
import io
import json
import runpy
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifting import fileio
from lifting.config import load_config, read_yaml, validate
from lifting.datasets.images import read_image
from lifting.datasets.keypoints import read_keypoints
from lifting.datasets.lsp import load_relative_depth_json, read_joints_mat
from lifting.datasets.samples import PoseSet
from lifting.datasets.videopose3d import load_npz_detections, load_videopose3d
from lifting.errors import UserError
from lifting.geometry.skeletons import LSP_14
from lifting.options.h36m import SCHEMA

ROOT = Path(__file__).resolve().parents[1]
FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# JSON values of every kind, including numbers too large for float32, float64 or int64.
JSON = st.recursive(
    st.none() | st.booleans() | st.text(max_size=5)
    | st.sampled_from([0, -1, 1.5, 1e39, 1e308, 2 ** 63, -(2 ** 70), 10 ** 400]) | st.integers(-10, 10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12)


def confused(value):
    """`value` with any of its parts (or itself) swapped for another JSON value: the shape a reader expects, wrong
    in one or more places."""
    if isinstance(value, dict):
        same = st.fixed_dictionaries({k: confused(v) for k, v in value.items()})
    elif isinstance(value, list) and value:
        same = st.tuples(*(confused(v) for v in value)).map(list)
    else:
        same = st.just(value)
    return st.integers(0, 7).flatmap(lambda i: JSON if i == 7 else same)  # mostly right: errors deep inside too


def expect_clean(read, path: Path):
    """`read()` succeeds or raises a one-line UserError naming `path`."""
    try:
        read()
    except UserError as e:
        assert "\n" not in str(e) and path.name in str(e), str(e)


def truncations(data: bytes):
    return st.integers(0, max(len(data) - 1, 0)).map(lambda n: data[:n])


def file_bytes(path: Path) -> bytes:
    return path.read_bytes()


# ---------------------------------------------------------------- valid files to damage

COCO = [{"image_id": 1, "keypoints": [float(v) for v in range(51)]},
        {"image_id": "b.jpg", "keypoints": [10.0] * 51}]
OPENPOSE = {"people": [{"pose_keypoints_2d": [float(v % 50) for v in range(75)]}]}
COCO_FILE = {"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": COCO[:1]}
LSP_LABELS = {"joint_names": list(LSP_14.joint_names),
              "images": [{"im_file": "im1.jpg", "is_train": True, "keypoints": [float(v) for v in range(28)],
                          "occluded": [0] * 14, "anns": [{"kp0": 0, "kp1": 1, "label": 1}]}]}
SUMMARY = {"order": ["noise_0"], "rows": {"noise_0": {"status": "done", "label": "0 %", "pa_mpjpe": 50.0,
                                                      "pa_mpjpe_std": 1.0}}}


def _saved(path: Path, save) -> bytes:
    save(path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """Bytes of one valid file of each kind."""
    from PIL import Image

    tmp = tmp_path_factory.mktemp("valid")
    rng = np.random.default_rng(0)
    out = {
        "npy": _saved(tmp / "k.npy", lambda p: np.save(p, rng.uniform(0, 100, (2, 17, 3)))),
        "png": _saved(tmp / "i.png", lambda p: Image.fromarray(rng.integers(0, 255, (8, 8, 3), np.uint8)).save(p)),
        "jpg": _saved(tmp / "i.jpg", lambda p: Image.fromarray(rng.integers(0, 255, (8, 8, 3), np.uint8)).save(p)),
        "mat": _saved(tmp / "j.mat", lambda p: scipy.io.savemat(p, {"joints": rng.uniform(0, 100, (3, 14, 4))})),
        "npz": _saved(tmp / "p.npz", lambda p: np.savez(p, pred3d=np.zeros((2, 17, 3)))),
        "vp3d": _saved(tmp / "v.npz", lambda p: np.savez(p, positions_3d={"S1": {"Walking": rng.uniform(
            -1, 1, (3, 32, 3))}})),
        "yaml": b"epochs: 3\nlr: 0.001\ntrain_subjects: [1, 5]\n",
    }
    with h5py.File(tmp / "d.h5", "w") as h5:
        h5["3D_positions"] = rng.uniform(0, 1, (96, 3))
    out["h5"] = (tmp / "d.h5").read_bytes()
    return out


READERS = {
    "keypoints.json": lambda p: read_keypoints([p], None),
    "keypoints.npy": lambda p: read_keypoints([p], "coco_17"),
    "image.png": read_image,
    "image.jpg": read_image,
    "joints.mat": read_joints_mat,
    "predictions.npz": lambda p: fileio.read_npz(p, "predictions", ("pred3d",)),
    "poses.npz": PoseSet.load_npz,
    "data_3d_h36m.npz": lambda p: load_videopose3d(p, [1], cameras=[1]),
    "labels.json": load_relative_depth_json,
    "config.yaml": lambda p: load_config(SCHEMA, p),
    "poses.h5": lambda p: fileio.read_h5_dataset(p, "3D_positions", "pose"),
}
SOURCE = {"keypoints.json": json.dumps(COCO).encode(), "keypoints.npy": "npy", "image.png": "png", "image.jpg": "jpg",
          "joints.mat": "mat", "predictions.npz": "npz", "poses.npz": "npz", "data_3d_h36m.npz": "vp3d",
          "labels.json": json.dumps(LSP_LABELS).encode(), "config.yaml": "yaml", "poses.h5": "h5"}


def _source(valid, name):
    source = SOURCE[name]
    return source if isinstance(source, bytes) else valid[source]


@pytest.mark.parametrize("name", sorted(READERS))
def test_random_bytes_and_truncations(name, valid, tmp_path):
    path, read, data = tmp_path / name, READERS[name], _source(valid, name)

    @FAST
    @given(st.one_of(st.binary(max_size=200), truncations(data), st.just(b"")))
    def check(blob):
        path.write_bytes(blob)
        expect_clean(lambda: read(path), path)

    check()


@pytest.mark.parametrize("name, value, read", [
    ("coco.json", COCO, lambda p: read_keypoints([p], None)),
    ("coco_file.json", COCO_FILE, lambda p: read_keypoints([p], None)),
    ("openpose.json", OPENPOSE, lambda p: read_keypoints([p], None)),
    ("labels.json", LSP_LABELS, load_relative_depth_json),
    ("config.yaml", {"epochs": 3, "train_subjects": [1, 5], "num_pairs": "all", "lr": 0.001},
     lambda p: validate(SCHEMA, read_yaml(p), str(p))),  # every key checked; cross-key rules name keys, not files
])
def test_type_confused_json(name, value, read, tmp_path):
    path = tmp_path / name

    @FAST
    @given(confused(value))
    def check(data):
        path.write_text(json.dumps(data))
        expect_clean(lambda: read(path), path)

    check()


def test_type_confused_videopose3d_files(tmp_path):
    """Pickled dicts of the wrong shape in a VideoPose3D .npz (3D poses and 2D detections)."""
    poses3d = {"S1": {"Walking": np.zeros((3, 32, 3)).tolist()}}
    good = tmp_path / "good.npz"
    np.savez(good, positions_3d=poses3d)
    poses = load_videopose3d(good, [1], cameras=[1])
    path3d, path2d = tmp_path / "data_3d_h36m.npz", tmp_path / "data_2d.npz"

    @FAST
    @given(confused(poses3d), confused({"S1": {"Walking": [np.ones((3, 17, 2)).tolist()]}}),
           confused({"layout_name": "h36m"}))
    def check(data3d, data2d, meta):
        np.savez(path3d, positions_3d=np.array(data3d, dtype=object))
        np.savez(path2d, positions_2d=np.array(data2d, dtype=object), metadata=np.array(meta, dtype=object))
        expect_clean(lambda: load_videopose3d(path3d, [1], cameras=[1]), path3d)
        expect_clean(lambda: load_npz_detections(path2d, poses), path2d)

    check()


def test_type_confused_summary_rows_stay_one_line(tmp_path):
    """A paper plot over a summary.json of the wrong shape: exit 0 or 2 with one 'error:' line, no traceback."""
    main = runpy.run_path(str(ROOT / "paper_plots" / "fig_4d.py"))["main"]
    path = tmp_path / "fig_4d" / "summary.json"
    path.parent.mkdir()

    @FAST
    @given(confused(SUMMARY))
    def check(summary):
        path.write_text(json.dumps(summary))
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["--results-dir", str(tmp_path), "--out-dir", str(tmp_path / "figures")])
        assert code in (0, 2) and err.getvalue().count("\n") == (code == 2), err.getvalue()

    check()


def test_json_numbers_beyond_float64_are_refused(tmp_path):
    path = tmp_path / "k.json"
    path.write_text('[{"image_id": 1, "keypoints": [1e400' + ", 1" * 50 + "]}]")
    with pytest.raises(UserError, match=r"k\.json: not valid JSON \(ValueError: number 1e400 too large"):
        read_keypoints([path], None)
    path.write_text('[{"image_id": 1, "keypoints": [' + "9" * 30 + ", 1" * 50 + "]}]")
    with pytest.raises(UserError, match=r"k\.json: not valid JSON \(ValueError: integer 9+\.\.\. too large"):
        read_keypoints([path], None)
    path.write_text('{"a": NaN, "b": -Infinity}')
    assert str(fileio.read_json(path, "x")) == "{'a': nan, 'b': -inf}"


ODD_ARRAYS = st.sampled_from([np.zeros(0), np.zeros((3, 17, 2)), np.zeros((3, 17)), np.array("S1"), np.array([True] * 3),
                              np.full((3, 17, 2), 1e39), np.zeros((3, 17, 2), complex), np.array(["a", "b", "c"]),
                              np.arange(3, dtype=np.uint64) + 2 ** 63, np.full((3, 17, 2), np.nan), np.arange(3)])


def test_type_confused_predictions_files(tmp_path):
    """A predictions .npz whose arrays have other shapes, dtypes or values than the lifting contract's."""
    from lifting.datasets.samples import replace_2d_from_predictions

    good = tmp_path / "good.npz"
    np.savez(good, positions_3d={"S1": {"Walking": np.zeros((3, 32, 3))}})
    poses = load_videopose3d(good, [1], cameras=[1])
    valid = {"joints2d_px": poses.joints2d_px, **{k: getattr(poses, k) for k in ("subject", "action", "subaction",
                                                                                  "camera", "frame")}}
    path = tmp_path / "predictions.npz"

    @FAST
    @given(st.dictionaries(st.sampled_from(sorted(valid) + ["skeleton", "cam_f"]), ODD_ARRAYS, max_size=3))
    def check(swapped):
        np.savez(path, **{**valid, **swapped})
        expect_clean(lambda: replace_2d_from_predictions(poses, path), path)

    check()


def test_type_confused_image_annotations(tmp_path):
    """A COCO-style annotation set whose data, camera or joint file has parts of the wrong type or value."""
    from PIL import Image

    from lifting.datasets.images import ImageDataset, annotation_paths

    (tmp_path / "images").mkdir()
    Image.new("RGB", (64, 64)).save(tmp_path / "images" / "a.jpg")
    paths = annotation_paths(tmp_path, 1)
    paths["data"].parent.mkdir()
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 64, "subject": 1, "action_idx": 2,
                        "subaction_idx": 0, "cam_idx": 1, "frame_idx": 0}],
            "annotations": [{"id": 1, "image_id": 1, "bbox": [0, 0, 64, 64], "keypoints_vis": [1] * 17}]}
    camera = {"1": {"R": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "t": [0, 0, 5000], "f": [1000, 1000], "c": [32, 32]}}
    joints = {"2": {"0": {"0": [[float(j), 2.0 * j, 10.0] for j in range(17)]}}}
    for part, value in (("data", data), ("camera", camera), ("joint_3d", joints)):
        paths[part].write_text(json.dumps(value))
    assert len(ImageDataset(tmp_path, [1])) == 1

    @FAST
    @given(confused(data), confused(camera), confused(joints))
    def check(data, camera, joints):
        for part, value in (("data", data), ("camera", camera), ("joint_3d", joints)):
            paths[part].write_text(json.dumps(value))
        try:
            ImageDataset(tmp_path, [1])
        except UserError as e:  # names the annotation file, the image, or the dataset (nobody left in it)
            named = ("_subject1_", "a.jpg", f"{tmp_path}: no annotations")
            assert "\n" not in str(e) and any(n in str(e) for n in named), str(e)

    check()
