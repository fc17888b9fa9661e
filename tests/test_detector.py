"""Person detector: COCO-style AP on hand-made cases with known answers, and a smoke run of the task."""

import json

import numpy as np
import pytest
import torch

from lifting.config import load_config
from lifting.engine import RunOptions, fit
from lifting.errors import UserError
from lifting.metrics import BoxTruth, detection_ap
from lifting.options.detector import SCHEMA
from lifting.synth.scenes import SceneOptions, load_pose_pool
from lifting.synth.writer import write_scene_dataset
from lifting.tasks.detector import DetectorTask

torch.set_num_threads(1)

A = [0.0, 0.0, 100.0, 100.0]
B = [200.0, 0.0, 300.0, 100.0]


def dets(*pairs):
    return np.array([b for b, _ in pairs]).reshape(-1, 4), np.array([s for _, s in pairs])


def truth(boxes, ignore=None):
    boxes = np.array(boxes).reshape(-1, 4)
    return BoxTruth(boxes, np.zeros(len(boxes), bool) if ignore is None else np.array(ignore))


def test_exact_detections_score_one():
    r = detection_ap([dets((A, 0.9), (B, 0.8))], [truth([A, B])])
    assert r["ap50"] == 1.0 and r["ap"] == 1.0 and r["recall50"] == 1.0 and r["num_people"] == 2


def test_a_duplicate_is_a_false_alarm_ranked_where_it_scores():
    # hit, duplicate, hit: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> envelope 1 up to recall 0.5, 2/3 after;
    # 101 recall points: 51 at 1 (0 .. 0.50) and 50 at 2/3
    r = detection_ap([dets((A, 0.9), (A, 0.8), (B, 0.7))], [truth([A, B])])
    assert r["ap50"] == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert r["recall50"] == 1.0


def test_a_missed_person_caps_recall():
    r = detection_ap([dets((A, 0.9))], [truth([A, B])])
    assert r["ap50"] == pytest.approx(51 / 101) and r["recall50"] == 0.5


def test_no_detections_score_zero():
    r = detection_ap([dets()], [truth([A])])
    assert r["ap50"] == 0.0 and r["ap"] == 0.0 and r["recall50"] == 0.0


def test_ignore_regions_are_neither_hits_nor_misses():
    ignored = truth([A, B], ignore=[False, True])
    # a detection on the ignored person, even scored highest, and one on a part of it (inside it: intersection
    # over its own area 1) are dropped; the ignored person is not a miss
    r = detection_ap([dets((B, 0.95), ([200.0, 0.0, 250.0, 50.0], 0.93), (A, 0.9))], [ignored])
    assert r["ap50"] == 1.0 and r["recall50"] == 1.0 and r["num_people"] == 1 and r["num_ignored"] == 1
    # the same detections with B counted and the part box a false alarm (IoU 0.25)
    r = detection_ap([dets((B, 0.95), ([200.0, 0.0, 250.0, 50.0], 0.93), (A, 0.9))], [truth([A, B])])
    assert r["ap50"] == pytest.approx((51 + 50 * 2 / 3) / 101)
    # a detection off every person is a false alarm even next to an ignore region
    r = detection_ap([dets(([500.0, 0.0, 600.0, 100.0], 0.95), (A, 0.9))], [ignored])
    assert r["ap50"] == pytest.approx(0.5)


def test_ap_averages_iou_thresholds():
    # IoU 0.72: a hit at 0.5, 0.55, 0.6, 0.65, 0.7 and a miss at 0.75 .. 0.95 -> AP 5/10
    r = detection_ap([dets(([0.0, 0.0, 100.0, 72.0], 0.9))], [truth([A])])
    assert r["ap50"] == 1.0 and r["ap"] == pytest.approx(0.5)


def test_ap_pools_detections_of_all_images_by_score():
    # image 1 (nobody): a false alarm at 0.95; image 2: its person found at 0.9 -> precision 1/2 at recall 1
    r = detection_ap([dets((B, 0.95)), dets((A, 0.9))], [truth([]), truth([A])])
    assert r["ap50"] == pytest.approx(0.5)
    # the false alarm scored below the hit costs nothing: precision 1 is reached at full recall first
    r = detection_ap([dets((B, 0.85)), dets((A, 0.9))], [truth([]), truth([A])])
    assert r["ap50"] == 1.0


def test_bad_scene_options_are_one_line_errors():
    with pytest.raises(UserError, match="min_people 3 > max_people 2"):
        load_config(SCHEMA, None, ["min_people=3", "max_people=2"])
    with pytest.raises(UserError, match="max_people"):
        load_config(SCHEMA, None, ["max_people=17"])
    with pytest.raises(UserError, match="distance_mm"):
        load_config(SCHEMA, None, ["distance_mm=[100,9000]"])


@pytest.mark.parametrize("source", ["online", "folder"])
def test_smoke_training_writes_results(source, tiny_h36m, tmp_path):
    sets = ["train_subjects=[1]", "test_subjects=[5]"]
    if source == "folder":  # the splits render_dataset.py --scenes writes by default for these subjects
        opts = SceneOptions(width=128, height=96, people=(1, 2))
        for subject, count in ((1, 4), (5, 3)):
            write_scene_dataset(tmp_path / "scenes", f"S{subject}", load_pose_pool(tiny_h36m, [subject]), count,
                                opts, seed=subject)
        sets.append(f"scene_dir={tmp_path / 'scenes'}")
    cfg = load_config(SCHEMA, None, [f"data_dir={tiny_h36m}", f"out_dir={tmp_path / 'run'}", "image_width=128",
                                     "image_height=96", "iterations=2", "warmup_steps=1", "batch_size=2",
                                     "scenes_per_epoch=4", "test_scenes=3", "eval_batch_size=2", "threads=1",
                                     "stride=1", "test_stride=1", "progress=false", "tensorboard=false", *sets])
    res = fit(DetectorTask(cfg), RunOptions.from_config(cfg), cfg)
    stored = json.loads((tmp_path / "run" / "results.json").read_text())
    for key in ("ap50", "ap", "recall50"):
        assert 0.0 <= stored[key] <= 1.0 and stored[key] == pytest.approx(res[key])
    assert stored["num_test_images"] == 3 and stored["num_people"] + stored["num_ignored"] >= 3
