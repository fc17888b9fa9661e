"""Multi-person metrics on hand-made scenes with known answers: 2D matching with a missed person, AP_root with a known
ranking, MRPE axes, PCK root-relative vs absolute, ignore regions and the distance / occlusion splits."""

import json
import os
import runpy
from pathlib import Path

import numpy as np
import pytest

from lifting.metrics import BoxTruth, evaluate_multiperson, false_box_share, match_people

F, C = 500.0, 320.0
SHAPE = np.random.default_rng(0).normal(0.0, 250.0, (17, 3))   # one body shape, root at its origin
SHAPE -= SHAPE[0]


def person(x_mm: float, z_mm: float) -> np.ndarray:
    return SHAPE + np.array([x_mm, 0.0, z_mm])


def project(joints: np.ndarray) -> np.ndarray:
    return F * joints[..., :2] / joints[..., 2:] + C


def truth(*poses, visible=None):
    poses = np.stack(poses)
    vis = np.ones(poses.shape[:2], bool) if visible is None else np.asarray(visible)
    return {"joints3d_cam": poses, "joints2d_px": project(poses), "visible": vis}


def pred(poses, scores, poses2d=None):
    poses = np.asarray(poses, np.float64).reshape(-1, 17, 3)
    return {"poses3d": poses, "poses2d": project(poses) if poses2d is None else poses2d,
            "scores": np.asarray(scores, np.float64)}


A, B, D = person(-1500.0, 3000.0), person(1500.0, 5000.0), person(0.0, 8000.0)


def test_matching_by_2d_leaves_a_missed_person_unmatched():
    gt = truth(A, B)
    # the prediction drawn on B (3D wildly off: matching looks at 2D only), one on nobody
    far_away = project(person(5000.0, 3000.0))
    match = match_people(np.stack([project(B), far_away]), gt["joints2d_px"], gt["visible"])
    assert match.tolist() == [1, -1]
    # two predictions on A: the closer one takes it
    match = match_people(np.stack([project(A) + 8.0, project(A) + 1.0]), gt["joints2d_px"], gt["visible"])
    assert match.tolist() == [-1, 0]


def test_a_missed_person_counts_in_pck_and_recall_not_in_mrpe():
    r = evaluate_multiperson([pred([A], [0.9])], [truth(A, B)])
    assert r["num_people"] == 2 and r["num_matched"] == 1 and r["recall"] == 0.5
    assert r["mrpe"] == 0.0 and r["pck_rel_150"] == 50.0 and r["pck_abs_150"] == 50.0
    assert r["ap_root_25"] == pytest.approx(0.5) and r["num_false_alarms"] == 0


def test_pck_abs_and_mrpe_axes_of_a_shifted_person():
    shift = np.array([120.0, -90.0, 0.0])          # 150 mm off: every joint just fails PCK_abs@150
    r = evaluate_multiperson([pred([A + shift, B + [0.0, 0.0, 100.0]], [0.9, 0.8])], [truth(A, B)])
    assert r["pck_rel_150"] == 100.0                # root-relative poses are exact
    assert r["pck_abs_150"] == 50.0                 # A: 0 of 17 joints within 150 mm, B: 17 of 17
    assert r["mrpe"] == pytest.approx((150.0 + 100.0) / 2)
    assert (r["mrpe_x"], r["mrpe_y"], r["mrpe_z"]) == pytest.approx((60.0, 45.0, 50.0))


def test_ap_root_with_a_known_ranking():
    # scores 0.9: A within 25 cm; 0.8: B's 2D but its root 1 m deep of B (a false positive for AP_root);
    # 0.7: D exact. Precision 1, 1/2, 2/3 at recall 1/3, 1/3, 2/3 -> AP = 1/3 + 2/3 * 1/3 = 5/9
    wrong_depth = person(1500.0 * 6000.0 / 5000.0, 6000.0)
    r = evaluate_multiperson([pred([A + 100.0, wrong_depth, D], [0.9, 0.8, 0.7],
                                   poses2d=np.stack([project(A), project(B), project(D)]))], [truth(A, B, D)])
    assert r["ap_root_25"] == pytest.approx(5 / 9)
    assert r["recall"] == 1.0 and r["num_matched"] == 3
    # the wrong depth found first instead: precision 0, 1/2, 2/3 -> AP = 1/2 * 1/3 + 2/3 * 1/3 = 7/18
    r = evaluate_multiperson([pred([A + 100.0, wrong_depth, D], [0.8, 0.9, 0.7],
                                   poses2d=np.stack([project(A), project(B), project(D)]))], [truth(A, B, D)])
    assert r["ap_root_25"] == pytest.approx(7 / 18)


def test_false_alarms_and_ignore_regions():
    vis = np.zeros((2, 17), bool)
    vis[0] = True
    vis[1, :3] = True                               # B shows only 3 joints: an ignore region
    r = evaluate_multiperson([pred([A, B], [0.9, 0.95])], [truth(A, B, visible=vis)])
    assert r["num_people"] == 1 and r["num_predictions"] == 1 and r["ap_root_25"] == 1.0
    # a pose drawn on an ignore region 20 % of B's height off (its 3 visible joints span only a few px), or on
    # a person hidden entirely, is matched to it and dropped, not a false alarm
    off = project(B) + [0.0, 0.2 * np.ptp(project(B)[:, 1])]
    r = evaluate_multiperson([pred([A, B], [0.9, 0.95], poses2d=np.stack([project(A), off]))],
                             [truth(A, B, visible=vis)])
    assert r["num_predictions"] == 1 and r["num_false_alarms"] == 0
    vis[1] = False
    r = evaluate_multiperson([pred([A, B], [0.9, 0.95])], [truth(A, B, visible=vis)])
    assert r["num_predictions"] == 1 and r["num_false_alarms"] == 0
    # a prediction on an image with nobody in it is a false alarm ranked above the hit: AP_root 1/2
    nobody = {"joints3d_cam": np.zeros((0, 17, 3)), "joints2d_px": np.zeros((0, 17, 2)),
              "visible": np.zeros((0, 17), bool)}
    r = evaluate_multiperson([pred([A], [0.9]), pred([A], [0.95])], [truth(A), nobody])
    assert r["num_false_alarms"] == 1 and r["ap_root_25"] == pytest.approx(0.5)


def test_splits_by_distance_and_occlusion():
    vis = np.ones((3, 17), bool)
    vis[2, :8] = False                              # D: 8 of 17 hidden (47 %)
    r = evaluate_multiperson([pred([A, B + [0.0, 0.0, 300.0]], [0.9, 0.8])], [truth(A, B, D, visible=vis)])
    near, mid, far = r["by_distance"]
    assert (near["num_people"], mid["num_people"], far["num_people"]) == (1, 1, 1)
    assert near["pck_abs_150"] == 100.0 and mid["pck_abs_150"] == 0.0 and mid["mrpe_z"] == pytest.approx(300.0)
    assert far["recall"] == 0.0 and np.isnan(far["mrpe"]) and far["ap_root_25"] == 0.0
    assert [b["num_people"] for b in r["by_occlusion"]] == [2, 0, 1]
    assert r["by_occlusion"][2]["recall"] == 0.0 and r["by_occlusion"][0]["recall"] == 1.0


def test_predictions_of_later_images_fall_in_their_own_people_bins():
    # image 0: A near; image 1: D far, found with a root 300 mm deep -> the far bin holds D's match
    r = evaluate_multiperson([pred([A], [0.9]), pred([D + [0.0, 0.0, 300.0]], [0.8])], [truth(A), truth(D)])
    near, _, far = r["by_distance"]
    assert near["num_matched"] == 1 and near["ap_root_25"] == 1.0 and near["mrpe"] == 0.0
    assert far["num_matched"] == 1 and far["ap_root_25"] == 0.0 and far["mrpe_z"] == pytest.approx(300.0)
    assert r["ap_root_25"] == pytest.approx(0.5)


@pytest.mark.slow
def test_benchmark_quick_resumes_and_its_plot(tmp_path, caplog, capsys):
    from lifting.experiments.multiperson import main

    plot = runpy.run_path(str(Path(__file__).resolve().parents[1] / "paper_plots" / "multiperson.py"))["main"]
    results = tmp_path / "r"
    argv = ["--quick", "--data-dir", "synthetic", "--results-dir", str(results), "--cache-dir",
            str(tmp_path / "cache"), "--device", "cpu", "--plausibility", "100", "--gallery", "2"]
    assert main(argv) == 0
    summary = json.loads((results / "multiperson" / "summary.json").read_text())
    names = [r["name"] for r in summary["rows"]]
    assert names == ["gt_rootnet", "gt_metrabs", "det_rootnet", "det_metrabs", "gt_prior"] == summary["order"]
    for r in summary["rows"]:
        for key in ("ap_root_25", "pck_rel_150", "pck_abs_150", "detection_ap50"):
            assert 0.0 <= r[key] <= (1.0 if key.startswith(("ap", "det")) else 100.0)
        assert [b["bin"] for b in r["by_distance"]] == ["< 4 m", "4-6 m", ">= 6 m"]
    gt_rows = [r for r in summary["rows"] if r["boxes"] == "gt"]
    assert all(np.isfinite(r["mrpe"]) and r["num_predictions"] > 0 for r in gt_rows)
    assert summary["scenes"]["count"] == 4 and summary["scenes"]["subjects"] == [8]
    # a rerun trains nothing and reuses every evaluated row
    stamps = {p: os.path.getmtime(p) for p in (results / "multiperson" / "rows").glob("*.json")}
    caplog.clear()
    assert main(argv) == 0
    assert {p: os.path.getmtime(p) for p in stamps} == stamps and "already trained" in caplog.text
    assert plot(["--results-dir", str(results)]) == 0
    for name in ("multiperson.md", "multiperson_by_distance.png", "multiperson_gallery.png",
                 "multiperson_gallery.json"):
        assert (results / "figures" / name).is_file()
    assert "detector + MeTRAbs" in (results / "figures" / "multiperson.md").read_text()
    # a damaged summary is a one-line error naming the row and the key, or the malformed list
    path = results / "multiperson" / "summary.json"
    del summary["rows"][3]["mrpe"]
    path.write_text(json.dumps(summary))
    assert plot(["--results-dir", str(results)]) != 0
    assert "row 'det_metrabs' lacks mrpe" in capsys.readouterr().err
    path.write_text(json.dumps({**summary, "rows": [{"label": "no name"}]}))
    assert plot(["--results-dir", str(results)]) != 0
    assert "every entry of 'rows' must be an object with a 'name'" in capsys.readouterr().err


def test_benchmark_bad_options_are_one_line_errors(tmp_path, capsys):
    from lifting.experiments.multiperson import main

    assert main(["--quick", "--min-score", "2", "--results-dir", str(tmp_path)]) != 0
    assert "--min-score" in capsys.readouterr().err
    assert main(["--quick", "--set", "nonsense=1", "--results-dir", str(tmp_path)]) != 0
    assert "nonsense" in capsys.readouterr().err
    assert not (tmp_path / "multiperson").exists()


def test_false_box_share_counts_duplicates_and_strays_not_ignore_regions():
    a, ignored, stray = [0.0, 0.0, 100.0, 100.0], [200.0, 0.0, 300.0, 100.0], [500.0, 0.0, 600.0, 100.0]
    truth = BoxTruth(np.array([a, ignored]), np.array([False, True]))
    boxes = np.array([a, a, stray, ignored])
    # the hit; its duplicate and the stray are false; the box on the ignore region is left out -> 2 of 3
    assert false_box_share([(boxes, np.array([0.9, 0.8, 0.7, 0.95]))], [truth]) == pytest.approx(2 / 3)
    assert false_box_share([(boxes[:1], np.array([0.9]))], [truth]) == 0.0
