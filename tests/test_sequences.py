"""Sequences of 2D keypoints: (T, J, 2) and (T, P, J, 2) arrays, OpenPose folders with empty frames, COCO track ids."""

import json

import numpy as np
import pytest

from lifting.datasets.keypoints import prepare_h36m17, read_keypoints
from lifting.errors import UserError


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
