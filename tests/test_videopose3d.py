"""VideoPose3D npz files as a data source: the same PoseSet as the h5 reader on the same poses, 2D files as lifting
inputs, and the data_format / npz_detections config path."""

import numpy as np
import pytest
import torch

from lifting.datasets.h36m import find_pose_files, load_h36m, read_pose_file
from lifting.datasets.samples import ARRAY_FIELDS
from lifting.datasets.videopose3d import load_npz_detections, load_videopose3d
from lifting.errors import UserError
from lifting.geometry.cameras import h36m_cameras, load_h36m_cameras
from lifting.geometry.keypoint_formats import COCO_17
from lifting.geometry.skeletons import H36M_17

torch.set_num_threads(1)
SUBJECTS = [1, 9]


def write_poses(path, data_dir, subjects=SUBJECTS, rename=None):
    """data_3d_h36m.npz of the h5 poses: positions_3d[S<n>][action] (T, 32, 3) world metres."""
    positions = {}
    for s, _, _, file in find_pose_files(data_dir, subjects):
        name = file.stem if rename is None else rename(file.stem)
        positions.setdefault(f"S{s}", {})[name] = read_pose_file(file).astype(np.float64) / 1000.0
    np.savez_compressed(path, positions_3d=positions)
    return path


def write_2d(path, poses_by_sequence, layout="h36m"):
    meta = {"layout_name": layout, "num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    np.savez_compressed(path, positions_2d=poses_by_sequence, metadata=meta)
    return path


@pytest.fixture(scope="module")
def npz_dir(tmp_path_factory, tiny_h36m):
    d = tmp_path_factory.mktemp("vp3d")
    write_poses(d / "data_3d_h36m.npz", tiny_h36m)
    return d


def test_same_arrays_as_the_h5_reader(npz_dir, tiny_h36m, tmp_path):
    cams = load_h36m_cameras(tiny_h36m / "cameras.h5")
    for key, cam in h36m_cameras().items():                       # both readers use the same calibration
        np.testing.assert_allclose(cams[key].R, cam.R, atol=1e-12)
        np.testing.assert_allclose(cams[key].T, cam.T, atol=1e-9)
    kw = dict(subjects=SUBJECTS, stride=3, skeleton="h36m_17", cameras=(1, 3))
    h5 = load_h36m(tiny_h36m, **kw)
    npz = load_videopose3d(npz_dir, **kw, cache_dir=tmp_path)
    assert npz.skeleton == h5.skeleton and len(npz) == len(h5)
    for name in ARRAY_FIELDS:
        a, b = getattr(npz, name), getattr(h5, name)
        if a.dtype.kind in "iuU":
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-4, err_msg=name)      # float32 mm / px
    assert list((tmp_path).glob("videopose3d_*.npz"))                                    # cached like the h5 path
    again = load_videopose3d(npz_dir / "data_3d_h36m.npz", **kw, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.joints3d_cam, npz.joints3d_cam)
    walking = load_videopose3d(npz_dir, SUBJECTS, actions="Walking", skeleton="lsp_14")
    assert set(walking.action.tolist()) == {"Walking"} and walking.num_joints == 14


def test_alternative_spellings_and_errors(tmp_path, tiny_h36m):
    path = write_poses(tmp_path / "p.npz", tiny_h36m, [1], rename=lambda s: s.replace("Photo", "TakingPhoto"))
    assert "Photo" in set(load_videopose3d(path, [1]).action.tolist())
    with pytest.raises(UserError, match="no subject S5; subjects present: S1"):
        load_videopose3d(path, [5])
    with pytest.raises(UserError, match="VideoPose3D poses file not found"):
        load_videopose3d(tmp_path / "nothing", [1])
    np.savez(tmp_path / "bad.npz", positions_3d={"S1": {"Walking": np.zeros((4, 17, 3))}})
    with pytest.raises(UserError, match=r"has shape \(4, 17, 3\), expected \(T, 32, 3\) metres"):
        load_videopose3d(tmp_path / "bad.npz", [1])
    np.savez(tmp_path / "other.npz", poses=np.zeros(3))
    with pytest.raises(UserError, match="no 'positions_3d' entry"):
        load_videopose3d(tmp_path / "other.npz", [1])


def sequences_2d(poses):
    """positions_2d[S<n>][action] = [camera 0..3 (T, 17, 2)] from a PoseSet with all four cameras."""
    out = {}
    for (s, a, sub) in sorted(set(zip(poses.subject.tolist(), poses.action.tolist(), poses.subaction.tolist()))):
        rows = (poses.subject == s) & (poses.action == a) & (poses.subaction == sub)
        name = a if sub == 0 else f"{a} {sub}"
        out.setdefault(f"S{s}", {})[name] = [poses.joints2d_px[rows & (poses.camera == c)] for c in (1, 2, 3, 4)]
    return out


def test_2d_files_as_inputs(npz_dir, tmp_path):
    poses = load_videopose3d(npz_dir, SUBJECTS)
    path = write_2d(tmp_path / "data_2d_h36m_gt.npz", sequences_2d(poses))
    sub = poses.subset(np.arange(0, len(poses), 7))
    np.testing.assert_allclose(load_npz_detections(path, sub), sub.joints2d_px)
    lsp = load_videopose3d(npz_dir, SUBJECTS, skeleton="lsp_14").subset(np.arange(0, len(poses), 7))
    np.testing.assert_allclose(load_npz_detections(path, lsp), lsp.joints2d_px)
    idx = {n: i for i, n in enumerate(H36M_17.joint_names)}
    coco = {s: {a: [np.stack([v[:, idx.get(n, idx["chin"])] for n in COCO_17], 1) for v in views]
                for a, views in acts.items()} for s, acts in sequences_2d(poses).items()}
    got = load_npz_detections(write_2d(tmp_path / "coco.npz", coco, layout="coco"), sub)
    np.testing.assert_allclose(got[:, idx["left_knee"]], sub.joints2d_px[:, idx["left_knee"]])
    np.testing.assert_allclose(got[:, idx["mid_hip"]], sub.joints2d_px[:, [idx["left_hip"], idx["right_hip"]]].mean(1),
                               rtol=1e-5)
    short = {s: {a: [v[:2] for v in views] for a, views in acts.items()} for s, acts in sequences_2d(poses).items()}
    with pytest.raises(UserError, match="has 2 frames, but frame"):
        load_npz_detections(write_2d(tmp_path / "short.npz", short), sub)
    with pytest.raises(UserError, match="layout 'mpii' not supported"):
        load_npz_detections(write_2d(tmp_path / "mpii.npz", sequences_2d(poses), layout="mpii"), sub)


def _cfg(tmp_path, data_dir, *extra):
    from lifting.config import load_config
    from lifting.options.h36m import SCHEMA

    return load_config(SCHEMA, None, [f"data_dir={data_dir}", f"cache_dir={tmp_path / 'cache'}",
                                      f"out_dir={tmp_path / 'run'}", "epochs=1", "linear_size=32", "compile=false",
                                      "threads=1", f"train_subjects=[{SUBJECTS[0]}]", f"test_subjects=[{SUBJECTS[1]}]",
                                      "stride=2", "tensorboard=false", "progress=false", *extra])


def test_config_dispatch_gives_the_h5_results(npz_dir, tiny_h36m, tmp_path):
    from lifting.tasks import run_task

    h5 = run_task("lifting", _cfg(tmp_path / "h5", tiny_h36m))
    npz = run_task("lifting", _cfg(tmp_path / "npz", npz_dir, "data_format=videopose3d"))
    assert npz["mpjpe"] == pytest.approx(h5["mpjpe"], rel=1e-3)
    assert npz["per_action"].keys() == h5["per_action"].keys()
    assert npz["num_test_frames"] == h5["num_test_frames"]
    assert list((tmp_path / "npz" / "cache" / "h36m").glob("videopose3d_*.npz"))


def test_npz_detections_noise_type(npz_dir, tmp_path):
    from lifting.tasks import run_task

    poses = load_videopose3d(npz_dir, SUBJECTS)
    shifted = {s: {a: [v + 3.0 for v in views] for a, views in acts.items()} for s, acts in sequences_2d(poses).items()}
    det = write_2d(tmp_path / "det.npz", shifted)
    res = run_task("lifting", _cfg(tmp_path, npz_dir, "data_format=videopose3d", "test_noise_type=npz_detections",
                                   f"detections_file={det}", "save_predictions=true"))
    saved = np.load(tmp_path / "run" / "predictions.npz")
    test = load_videopose3d(npz_dir, [SUBJECTS[1]])
    np.testing.assert_allclose(saved["joints2d_px"], test.joints2d_px + 3.0, rtol=1e-6)
    assert np.isfinite(res["mpjpe"])
    with pytest.raises(UserError, match="needs detections_file"):
        run_task("lifting", _cfg(tmp_path / "b", npz_dir, "data_format=videopose3d", "test_noise_type=npz_detections"))
