"""Keypoint formats -> Human3.6M-17 on hand-built poses, the readers (.npy, COCO-style and OpenPose JSON) and the
missing-keypoint and plausibility policies."""

import json
import logging
import re

import numpy as np
import pytest

from lifting.datasets.keypoints import check_plausible, prepare_h36m17, read_keypoints
from lifting.errors import UserError
from lifting.geometry.keypoint_formats import (
    FORMATS,
    fill_missing,
    from_h36m17,
    get_format,
    h36m17_to_format,
    to_h36m17,
)
from lifting.geometry.skeletons import H36M_17

H = {n: i for i, n in enumerate(H36M_17.joint_names)}

# The published keypoint orders, index by index.
COCO = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
        "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
        "right_ankle"]
OPENPOSE = ["Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip", "RHip",
            "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar", "LBigToe", "LSmallToe",
            "LHeel", "RBigToe", "RSmallToe", "RHeel"]
SIDES = {"R": "right_", "L": "left_"}


def distinct_points(n: int, dim: int = 2) -> np.ndarray:
    """(1, n, dim) keypoints, all different, so every output joint shows where it came from."""
    rng = np.random.default_rng(n)
    return rng.uniform(0, 1000, (1, n, dim))


def test_coco_joint_by_joint():
    kp = distinct_points(17)
    c = {n: kp[0, i] for i, n in enumerate(COCO)}
    out, ok = to_h36m17(kp, None, "coco_17")
    assert ok.all()
    o = {n: out[0, i] for n, i in H.items()}
    for n in ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
              "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"):
        np.testing.assert_allclose(o[n], c[n])
    pelvis, thorax = (c["left_hip"] + c["right_hip"]) / 2, (c["left_shoulder"] + c["right_shoulder"]) / 2
    np.testing.assert_allclose(o["mid_hip"], pelvis)
    np.testing.assert_allclose(o["neck"], thorax)
    np.testing.assert_allclose(o["mid_spine"], (pelvis + thorax) / 2)
    np.testing.assert_allclose(o["chin"], c["nose"])
    np.testing.assert_allclose(o["head"], 2 * c["nose"] - thorax)          # nose = midpoint of thorax and head top


def test_openpose_joint_by_joint_and_fallbacks():
    kp = distinct_points(25)
    p = {}
    for i, n in enumerate(OPENPOSE):
        key = SIDES[n[0]] + n[1:].lower() if n[0] in SIDES and n[1].isupper() else n.lower()
        p[key] = kp[0, i]
    out, ok = to_h36m17(kp, None, "openpose_25")
    assert ok.all()
    o = {n: out[0, i] for n, i in H.items()}
    for n in ("right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
              "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle"):
        np.testing.assert_allclose(o[n], p[n])
    np.testing.assert_allclose(o["mid_hip"], p["midhip"])
    np.testing.assert_allclose(o["neck"], p["neck"])
    np.testing.assert_allclose(o["mid_spine"], (p["midhip"] + p["neck"]) / 2)
    np.testing.assert_allclose(o["chin"], p["nose"])
    np.testing.assert_allclose(o["head"], 2 * p["nose"] - p["neck"])
    present = np.ones((1, 25), bool)
    present[0, [0, 1, 8]] = False                                     # nose, neck, mid-hip undetected
    out, ok = to_h36m17(kp, present, "openpose_25")
    assert ok.all()
    eyes = (p["right_eye"] + p["left_eye"]) / 2
    thorax = (p["right_shoulder"] + p["left_shoulder"]) / 2
    np.testing.assert_allclose(out[0, H["mid_hip"]], (p["right_hip"] + p["left_hip"]) / 2)
    np.testing.assert_allclose(out[0, H["neck"]], thorax)
    np.testing.assert_allclose(out[0, H["chin"]], eyes)
    np.testing.assert_allclose(out[0, H["head"]], 2 * eyes - thorax)


def test_mpii_lsp_h36m16_midpoints():
    kp = distinct_points(16)
    out, _ = to_h36m17(kp, None, "mpii_16")
    m = kp[0]
    np.testing.assert_allclose(out[0, H["mid_hip"]], m[6])                       # pelvis
    np.testing.assert_allclose(out[0, H["neck"]], m[7])                          # thorax
    np.testing.assert_allclose(out[0, H["head"]], m[9])                          # head top
    np.testing.assert_allclose(out[0, H["chin"]], (m[7] + m[9]) / 2)
    np.testing.assert_allclose(out[0, H["mid_spine"]], (m[6] + m[7]) / 2)
    np.testing.assert_allclose(out[0, H["right_ankle"]], m[0])
    np.testing.assert_allclose(out[0, H["left_wrist"]], m[15])
    kp = distinct_points(14)
    out, _ = to_h36m17(kp, None, "lsp_14")
    s = kp[0]
    np.testing.assert_allclose(out[0, H["mid_hip"]], (s[2] + s[3]) / 2)
    np.testing.assert_allclose(out[0, H["neck"]], s[12])
    np.testing.assert_allclose(out[0, H["chin"]], (s[12] + s[13]) / 2)
    np.testing.assert_allclose(out[0, H["head"]], s[13])
    np.testing.assert_allclose(out[0, H["right_wrist"]], s[6])
    kp = distinct_points(16)
    out, _ = to_h36m17(kp, None, "h36m_16")
    np.testing.assert_allclose(out[0, H["chin"]], (kp[0, 8] + kp[0, 9]) / 2)    # between thorax and head
    np.testing.assert_allclose(out[0, H["mid_spine"]], kp[0, 7])


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_rule_is_affine_so_3d_and_shifts_commute(fmt):
    kp = distinct_points(get_format(fmt).num_joints, 3)
    a, _ = to_h36m17(kp, None, fmt)
    b, _ = to_h36m17(kp + np.array([10.0, -20.0, 30.0]), None, fmt)
    np.testing.assert_allclose(b - a, np.broadcast_to([10.0, -20.0, 30.0], a.shape), atol=1e-9)


def test_output_formats_round_trip():
    joints = distinct_points(17, 3)[0]
    for fmt in ("h36m_17", "h36m_16", "lsp_14"):
        back, _ = to_h36m17(from_h36m17(joints, fmt)[None], None, fmt)
        same = [H[n] for n in get_format(fmt).joint_names]
        np.testing.assert_allclose(back[0, same], joints[same])
    lsp = distinct_points(14)
    np.testing.assert_allclose(from_h36m17(to_h36m17(lsp, None, "lsp_14")[0], "lsp_14"), lsp)   # LSP passes through
    mpii = from_h36m17(joints, "mpii_16")
    np.testing.assert_allclose(mpii[8], joints[H["chin"]])                        # upper neck
    with pytest.raises(UserError, match="coco_17"):
        from_h36m17(joints, "coco_17")


def test_missing_joints_take_the_nearest_present_joint():
    joints = distinct_points(17)
    present = np.ones((1, 17), bool)
    present[0, [H["left_wrist"], H["right_elbow"], H["right_wrist"]]] = False
    filled = fill_missing(joints, present)
    np.testing.assert_allclose(filled[0, H["left_wrist"]], joints[0, H["left_elbow"]])
    np.testing.assert_allclose(filled[0, H["right_elbow"]], joints[0, H["right_shoulder"]])
    np.testing.assert_allclose(filled[0, H["right_wrist"]], joints[0, H["right_shoulder"]])
    keep = present[0]
    np.testing.assert_allclose(filled[0, keep], joints[0, keep])


def test_h36m17_as_coco_keypoints_lacks_the_face_and_comes_back():
    joints = distinct_points(17)
    coco, present = h36m17_to_format(joints, "coco_17")
    assert present[0].tolist() == [n not in ("left_eye", "right_eye", "left_ear", "right_ear") for n in COCO]
    assert np.isnan(coco[0, ~present[0]]).all()
    np.testing.assert_allclose(coco[0, COCO.index("nose")], joints[0, H["chin"]])
    np.testing.assert_allclose(coco[0, COCO.index("left_knee")], joints[0, H["left_knee"]])
    back, ok = to_h36m17(coco, present, "coco_17")
    assert ok.all()
    same = [H[n] for n in COCO if n in H] + [H["chin"]]
    np.testing.assert_allclose(back[0, same], joints[0, same])
    np.testing.assert_array_equal(h36m17_to_format(joints, "h36m_17")[0], joints)
    with pytest.raises(UserError, match="cannot make 'mpii_16' keypoints"):
        h36m17_to_format(joints, "mpii_16")


def test_unknown_format_and_wrong_count():
    with pytest.raises(UserError, match="unknown keypoint format 'body_99'"):
        get_format("body_99")
    with pytest.raises(UserError, match=r"\(N, 17, D\)"):
        to_h36m17(np.zeros((2, 18, 2)), None, "coco_17")


def _openpose(people):
    return {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": p} for p in people]}


def _person_25(rng, missing=()):
    kp = np.concatenate([rng.uniform(100, 600, (25, 2)), np.full((25, 1), 0.9)], 1)
    kp[list(missing)] = 0.0                                                   # OpenPose: undetected = (0, 0, 0)
    return kp.ravel().tolist()


def test_openpose_json_several_people_and_missing_joints(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "frame_000000000000_keypoints.json"
    path.write_text(json.dumps(_openpose([_person_25(rng), _person_25(rng, missing=[7])])))   # LWrist missing
    kp = read_keypoints([path], None)
    assert kp.fmt == "openpose_25" and len(kp) == 2 and kp.person.tolist() == [0, 1]
    assert not kp.present[1, 7] and kp.present[0].all()
    joints, kept = prepare_h36m17(kp)
    assert len(kept) == 2 and np.isfinite(joints).all()
    np.testing.assert_allclose(joints[1, H["left_wrist"]], joints[1, H["left_elbow"]])
    with pytest.raises(UserError, match=r"person 1: keypoint left_wrist missing"):
        prepare_h36m17(kp, missing="error")


def test_coco_results_list_and_annotation_file(tmp_path):
    rng = np.random.default_rng(1)

    def person(vis=2.0):
        kp = np.concatenate([rng.uniform(50, 400, (17, 2)), np.full((17, 1), vis)], 1)
        return kp.ravel().tolist()

    results = [{"image_id": 7, "category_id": 1, "keypoints": person(), "score": 0.9},
               {"image_id": 7, "category_id": 1, "keypoints": person(), "score": 0.8},
               {"image_id": 9, "category_id": 1, "keypoints": person(), "score": 0.7}]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    kp = read_keypoints([path], None)
    assert kp.fmt == "coco_17" and kp.image.tolist() == ["7", "7", "9"] and kp.person.tolist() == [0, 1, 0]
    np.testing.assert_allclose(kp.joints_px[2].ravel(), np.array(results[2]["keypoints"]).reshape(17, 3)[:, :2].ravel())
    ann = {"images": [{"id": 3, "file_name": "a.jpg"}], "annotations": [{"image_id": 3, "keypoints": person(0.0)}]}
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(ann))
    kp = read_keypoints([path], None)
    assert kp.image.tolist() == ["a.jpg"] and not kp.present.any()              # v = 0: not labelled
    with pytest.raises(UserError, match="no pose has the 4 present keypoints"):
        prepare_h36m17(kp)


def test_npy_layouts_with_and_without_confidence(tmp_path):
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 500, (3, 17, 2))
    conf = np.ones((3, 17, 1))
    conf[1, 5] = 0.05
    for i, arr in enumerate([xy, xy.reshape(3, 34), np.concatenate([xy, conf], -1),
                             np.concatenate([xy, conf], -1).reshape(3, 51)]):
        np.save(tmp_path / f"p{i}.npy", arr)
        kp = read_keypoints([tmp_path / f"p{i}.npy"], "h36m_17")
        np.testing.assert_allclose(kp.joints_px, xy)
        assert kp.present[1, 5] == (i < 2)
    np.save(tmp_path / "one.npy", xy[0])
    assert len(read_keypoints([tmp_path / "one.npy"], "h36m_17")) == 1


@pytest.mark.parametrize("content, needle", [
    ("{not json", "not valid JSON (line 1"),
    (json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 54}]}), "has 54 numbers per pose; the format needs 75"),
    (json.dumps({"people": [{"pose_keypoints_2d": "abc"}]}), "must be a flat list of numbers"),
    (json.dumps({"what": 1}), "expected OpenPose output"),
])
def test_malformed_json_is_one_line_error(tmp_path, content, needle):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UserError, match=re.escape(needle)) as e:
        read_keypoints([path], None)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_npy_needs_a_format_and_the_right_count(tmp_path):
    np.save(tmp_path / "p.npy", np.zeros((2, 18, 2)))
    with pytest.raises(UserError, match="needs --format"):
        read_keypoints([tmp_path / "p.npy"], None)
    with pytest.raises(UserError, match=r"shape \(2, 18, 2\) not understood; coco_17 needs \(17, 2\|3\)"):
        read_keypoints([tmp_path / "p.npy"], "coco_17")


def _kp(xy, tmp_path, name="p.npy"):
    np.save(tmp_path / name, xy)
    return read_keypoints([tmp_path / name], "h36m_17")


def test_plausibility_errors_and_warnings(tmp_path, caplog):
    rng = np.random.default_rng(3)
    good = rng.uniform(100, 300, (2, 17, 2))
    for value, needle in [(np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"), (2e5, "beyond +-100000 px")]:
        bad = good.copy()
        bad[1, 4, 0] = value
        with pytest.raises(UserError, match=f"image 1 person 0: keypoint left_hip .*{needle[:8]}"):
            check_plausible(_kp(bad, tmp_path))
    flat = good.copy()
    flat[0] = 50.0
    with pytest.raises(UserError, match="image 0 person 0: degenerate pose"):
        check_plausible(_kp(flat, tmp_path))
    with pytest.raises(UserError, match="more than one image size outside the 100x100 image"):
        check_plausible(_kp(good, tmp_path), (100, 100))
    with caplog.at_level(logging.WARNING, logger="lifting"):
        check_plausible(_kp(good, tmp_path), (250, 250))
        small = good.copy()
        small[0] = 200 + rng.uniform(0, 5, (17, 2))
        check_plausible(_kp(small, tmp_path))
    assert "outside the 250x250 image" in caplog.text and "smaller than 10 px" in caplog.text


def test_poses_with_too_few_keypoints_are_skipped_with_a_warning(tmp_path, caplog):
    rng = np.random.default_rng(4)
    arr = np.concatenate([rng.uniform(100, 300, (3, 17, 2)), np.ones((3, 17, 1))], -1)
    arr[1, 3:, 2] = 0.0                                                     # only 3 keypoints left
    with caplog.at_level(logging.WARNING, logger="lifting"):
        joints, kept = prepare_h36m17(_kp(arr, tmp_path))
    assert kept.image.tolist() == ["0", "2"] and joints.shape == (2, 17, 2)
    assert "image 1 person 0: skipped, only 3 of 17 keypoints present" in caplog.text
