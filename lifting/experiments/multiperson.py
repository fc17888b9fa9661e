"""The multi-person benchmark (`paper_exps/multiperson.py`): everyone's absolute 3D pose in scenes of several people,
from ground-truth or detector boxes, with roots from RootNet, from MeTRAbs' own reconstruction, or from the distance
prior k alone, all through `detect_poses` on the same test scenes.

    <results>/multiperson/estimator/   the MeTRo/MeTRAbs run (opts/metro_tiny.yaml), unless --estimator RUN
    <results>/multiperson/rootnet/     the RootNet run (opts/rootnet_tiny.yaml), unless --rootnet RUN
    <results>/multiperson/detector/    the person detector run (opts/detector_tiny.yaml), unless --detector RUN
    <results>/multiperson/rows/<row>.json   one evaluated row (reused by a rerun with the same models and scenes)
    <results>/multiperson/gallery.npz  the first scenes with their true and detected people (paper_plots)
    <results>/multiperson/summary.json every row, in table order, and which root source wins where

Missing runs are trained (through the launcher, --jobs of them at once; an interrupted one resumes, a finished one
is reused). Test scenes are drawn from the test subjects' poses with one seed and rendered once at the detector's
image size, so every row sees the same images. Metrics (`lifting.metrics`) are over the people in view
with at least 6 visible joints (the others are ignore regions), predictions matched to them by 2D.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lifting.checkpoint import load_trained, select_device
from lifting.cli import ArgumentParser, add_option
from lifting.config import load_config, opt
from lifting.engine.launchers import Failure, Job, Launcher, run_jobs
from lifting.errors import UserError
from lifting.experiments.arguments import add_subjects, experiment_main, launcher
from lifting.experiments.image_runs import MODELS, add_run_options, model_config, parse_runs
from lifting.experiments.training import ensure_trained
from lifting.fileio import check_output_dir, read_json, save_npz, write_json
from lifting.inference.multiperson import MIN_SCORE, NMS_IOU, NMS_MM, PLAUSIBILITY, detect_poses
from lifting.metrics import BoxTruth, detection_ap, evaluate_multiperson, false_box_share
from lifting.options import detector as detector_options
from lifting.synth.poses import pose_data_dir
from lifting.synth.scenes import MIN_VISIBLE_JOINTS, SceneOptions, load_pose_pool, render_scenes, sample_scenes

log = logging.getLogger("lifting")
NAME = "multiperson"
TITLE = "Multi-person absolute 3D pose: detector or true boxes, RootNet / MeTRAbs / k-prior roots (AP_root, MRPE, PCK)"
SCENE_SEED = 2021
GALLERY_ROWS = ("det_rootnet", "det_metrabs")
# what the test scenes take from the detector's config (image size, people, data): they look like its training scenes
SCENE_KEYS = ("data_dir", "cache_dir", "synthetic_size", "test_subjects", "test_stride",
              "min_people", "max_people", "distance_mm")


@dataclass(frozen=True)
class Row:
    name: str
    label: str
    boxes: str      # 'gt' or 'detector'
    roots: str      # a `detect_poses` root source


ROWS = (Row("gt_rootnet", "true boxes + RootNet + MeTRo", "gt", "rootnet"),
        Row("gt_metrabs", "true boxes + MeTRAbs", "gt", "metrabs"),
        Row("det_rootnet", "detector + RootNet + MeTRo", "detector", "rootnet"),
        Row("det_metrabs", "detector + MeTRAbs", "detector", "metrabs"),
        Row("gt_prior", "true boxes + k prior (γ = 1) + MeTRo", "gt", "prior"))


def parse_args(argv=None) -> argparse.Namespace:
    p = ArgumentParser(prog="paper_exps/multiperson.py", description=TITLE)
    p.add_argument("--data-dir", help="Human3.6M h5-annotation folder, or 'synthetic' (default: the schemas')")
    add_subjects(p, "--train-subjects", "training subjects of runs trained here (default 1,5,6,7)")
    add_subjects(p, "--test-subjects", "subjects the test scenes are drawn from (default 8)")
    for kind, (_, opt_file, task) in MODELS.items():
        p.add_argument(f"--{kind}", metavar="RUN", help=f"a trained main_{task}.py run dir or checkpoint (default: "
                                                        f"train opts/{opt_file} into <results>/{NAME}/{kind})")
    add_option(p, "--test-scenes", opt(int, 100, "test scenes (the same for every row)", minimum=1,
                                       maximum=100_000))
    add_option(p, "--scene-size", opt(list, [640, 480], "WIDTH,HEIGHT of the test scenes, px (the detector's field "
                                                        "of view; it sees them at its own size)", item=int,
                                      nonempty=True, minimum=32, maximum=8192), count=2)
    add_option(p, "--min-score", opt(float, MIN_SCORE, "detector score below which a box is dropped", minimum=0.0,
                                     maximum=1.0))
    add_option(p, "--nms-iou", opt(float, NMS_IOU, "box NMS of detect_poses on the detector's boxes (null: the "
                                                   "detector's own only)", nullable=True, minimum=1e-3, maximum=1.0))
    add_option(p, "--plausibility", opt(float, PLAUSIBILITY, "implausible-pose tolerance of detect_poses (size and "
                                                             "limb proportions within a factor 1 + this of an "
                                                             "average person's)", minimum=1e-3, maximum=100.0))
    add_option(p, "--nms-mm", opt(float, NMS_MM, "3D pose NMS threshold of detect_poses, mean joint distance in mm",
                                  minimum=0.0, maximum=10_000.0))
    add_option(p, "--gallery", opt(int, 6, "scenes kept for the gallery figure", minimum=0, maximum=100))
    add_option(p, "--jobs", opt(int, 1, "runs trained in parallel local processes", minimum=1, maximum=64))
    add_run_options(p, NAME, "tiny data, 2 steps per model, small images: a smoke test")
    args = parse_runs(p, argv, tuple(MODELS))
    launcher(NAME, args)
    return args


def ensure_runs(args: argparse.Namespace, launch: Launcher) -> dict[str, str] | list[Path]:
    """{kind: run dir or checkpoint} of the three models: given, or trained / resumed / reused here as jobs of
    `launch`; after a dry run the written job scripts instead."""
    runs = {kind: getattr(args, kind) for kind in MODELS}
    jobs, kinds = [], []
    for kind in MODELS:
        if runs[kind] is None:
            cfg = model_config(kind, args, Path(args.results_dir) / NAME / kind,
                               **({"threads": max(1, (os.cpu_count() or 1) // args.jobs)}
                                  if args.launcher == "local" and args.jobs > 1 else {}))
            runs[kind] = cfg["out_dir"]
            what = f"[{NAME}] {kind}"
            jobs.append(Job(f"{NAME}.{kind}", ensure_trained, (MODELS[kind][2], cfg, what),
                            f"{what}: {MODELS[kind][2]} run {cfg['out_dir']}"))
            kinds.append(kind)
    results = run_jobs(jobs, launch)
    if launch.dry_run:
        return [p for p in results if isinstance(p, Path)]
    for kind, out in zip(kinds, results):
        if isinstance(out, Failure):
            raise UserError(f"[{NAME}] {kind}: {out.reason}")
    return runs


@dataclass
class TestScenes:
    """Rendered test scenes: images (N, 3, H, W) in [0, 1], K (N, 3, 3), per image the people in view (`truths`
    for the metrics, `boxes` [x, y, w, h] px), and the detection truths (ignore regions)."""

    images: torch.Tensor
    K: np.ndarray
    truths: list[dict[str, np.ndarray]]
    boxes: list[np.ndarray]
    detection_truths: list[BoxTruth]
    spec: dict[str, Any]


def scene_config(detector_config: dict[str, Any]) -> dict[str, Any]:
    """What the test scenes take from a trained detector's config (`SCENE_KEYS`), the rest at the schema's defaults."""
    return load_config(detector_options.SCHEMA, None, [], {k: v for k, v in detector_config.items() if k in SCENE_KEYS})


def test_scenes(det_cfg: dict[str, Any], count: int, size: tuple[int, int], data_dir: str | None = None,
                cache_dir: str | None = None, subjects: list[int] | None = None, seed: int = SCENE_SEED) -> TestScenes:
    """`count` scenes of the poses of `subjects` (default: the detector's test subjects) drawn from `seed` at
    `size` (W, H) px, with the detector's field of view, people and distance ranges, rendered on the CPU (the same
    images whatever the device). Scenes larger than the detector's images keep far people big enough for the
    estimator's crops."""
    data_dir = pose_data_dir(data_dir or det_cfg["data_dir"], cache_dir or det_cfg["cache_dir"],
                             det_cfg["synthetic_size"])
    subjects_ = subjects or det_cfg["test_subjects"]
    opts = SceneOptions(width=size[0], height=size[1],
                        people=(det_cfg["min_people"], det_cfg["max_people"]),
                        distance_mm=tuple(det_cfg["distance_mm"])).check()
    pool = load_pose_pool(data_dir, subjects_, det_cfg["test_stride"])
    rng, generator = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    images, Ks, truths, boxes, det_truths = [], [], [], [], []
    for start in range(0, count, 16):
        scenes = sample_scenes(pool, min(16, count - start), opts, rng)
        out = render_scenes(scenes, generator, "cpu")
        for b in range(len(out.image)):
            keep = out.in_view[b].numpy()
            cam = scenes.joints_cam[b][keep]
            xyxy = out.boxes[b][keep].double().numpy()
            vis = out.joint_visible[b][keep].numpy()
            truths.append({"joints3d_cam": cam, "joints2d_px": out.joints2d_px[b][keep].double().numpy(),
                           "visible": vis})
            wh = xyxy[:, 2:] - xyxy[:, :2]
            boxes.append(np.concatenate([xyxy[:, :2], wh], 1)[(wh >= 1).all(1)])
            det_truths.append(BoxTruth(xyxy, vis.sum(-1) < MIN_VISIBLE_JOINTS))
        images.append(out.image.cpu())
        Ks.append(scenes.K)
    spec = {"count": count, "seed": seed, "data_dir": str(data_dir), "subjects": list(subjects_),
            "test_stride": det_cfg["test_stride"], "width": opts.width, "height": opts.height,
            "people": list(opts.people), "distance_mm": list(opts.distance_mm)}
    return TestScenes(torch.cat(images), np.concatenate(Ks), truths, boxes, det_truths, spec)


def evaluate_row(row: Row, scenes: TestScenes, models: dict[str, torch.nn.Module], args: argparse.Namespace,
                 batch: int = 8) -> tuple[dict[str, Any], list[dict[str, np.ndarray]]]:
    """(the row's metrics, its per-image detect_poses output) on the test scenes."""
    outputs: list[dict[str, np.ndarray]] = []
    start = time.perf_counter()
    for s in range(0, len(scenes.images), batch):
        outputs += detect_poses(scenes.images[s:s + batch], models["detector"] if row.boxes == "detector" else None,
                                models["estimator"], models["rootnet"] if row.roots != "metrabs" else None,
                                intrinsics=scenes.K[s:s + batch],
                                boxes=scenes.boxes[s:s + batch] if row.boxes == "gt" else None, roots=row.roots,
                                min_score=args.min_score, nms_iou=args.nms_iou, plausibility=args.plausibility,
                                nms_mm=args.nms_mm)
    seconds = time.perf_counter() - start
    people = evaluate_multiperson(outputs, scenes.truths)
    found = [(np.concatenate([o["boxes"][:, :2], o["boxes"][:, :2] + o["boxes"][:, 2:]], 1), o["scores"])
             for o in outputs]                                  # [x, y, w, h] -> [x0, y0, x1, y1] px
    det = detection_ap(found, scenes.detection_truths)
    share = people["num_false_alarms"] / people["num_predictions"] if people["num_predictions"] else 0.0
    return ({"name": row.name, "label": row.label, "boxes": row.boxes, "roots": row.roots, "status": "done",
             **people, "detection_ap50": det["ap50"], "detection_ap": det["ap"],
             "detection_recall50": det["recall50"], "false_alarm_share": share,
             "false_box_share": false_box_share(found, scenes.detection_truths),
             "seconds": seconds,
             "images_per_s": len(scenes.images) / seconds}, outputs)


def winners(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """With detector boxes: which root source (RootNet or MeTRAbs) has the higher AP_root@25 in every distance
    and occlusion bin."""
    a, b = rows.get("det_rootnet"), rows.get("det_metrabs")
    if not a or not b:
        return []
    out = []
    for split in ("by_distance", "by_occlusion"):
        for x, y in zip(a[split], b[split]):
            ap = {"rootnet": x["ap_root_25"], "metrabs": y["ap_root_25"]}
            best = "tie" if ap["rootnet"] == ap["metrabs"] or not x["num_people"] else max(ap, key=ap.get)
            out.append({"split": split, "bin": x["bin"], "num_people": x["num_people"], "ap_root_25": ap,
                        "mrpe": {"rootnet": x["mrpe"], "metrabs": y["mrpe"]}, "winner": best})
    return out


def _padded(people: list[np.ndarray], width: int, shape: tuple[int, ...]) -> np.ndarray:
    out = np.full((len(people), width, *shape), np.nan)
    for i, p in enumerate(people):
        out[i, :len(p)] = p
    return out


def save_gallery(path: Path, scenes: TestScenes, outputs: dict[str, list[dict[str, np.ndarray]]], count: int) -> None:
    """The first `count` scenes: images (G, H, W, 3) uint8, K, true people (G, P, 17, 3) mm camera frame (NaN
    padded) with their visibility, and each gallery row's detected people (G, P', 17, 3) with their scores."""
    G = min(count, len(scenes.images))
    gt = [scenes.truths[i]["joints3d_cam"] for i in range(G)]
    width = max([len(p) for p in gt] + [1])
    arrays = {"images": (scenes.images[:G].permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8),
              "K": scenes.K[:G], "gt_poses3d": _padded(gt, width, (17, 3)),
              "gt_visible": _padded([scenes.truths[i]["visible"].astype(float) for i in range(G)], width, (17,)),
              "rows": np.array([n for n in GALLERY_ROWS if n in outputs])}
    for name in arrays["rows"]:
        found = [outputs[name][i] for i in range(G)]
        most = max([len(o["scores"]) for o in found] + [1])
        arrays[f"{name}_poses3d"] = _padded([o["poses3d"] for o in found], most, (17, 3))
        arrays[f"{name}_scores"] = _padded([o["scores"] for o in found], most, ())
    save_npz(path, **arrays)


def run(args: argparse.Namespace) -> dict[str, Any]:
    out_root = check_output_dir(Path(args.results_dir) / NAME, "--results-dir")
    launch = launcher(NAME, args)
    runs = ensure_runs(args, launch)
    if launch.dry_run:
        return {"experiment": NAME, "dry_run": sorted(str(p) for p in runs)}
    device = select_device(args.device or "cpu")
    trained = {kind: load_trained(path, kind) for kind, path in runs.items()}
    models = {kind: t.model.to(device) for kind, t in trained.items()}
    det_cfg = scene_config(trained["detector"].config)
    scenes = test_scenes(det_cfg, 4 if args.quick else args.test_scenes, args.scene_size, args.data_dir,
                         args.cache_dir, args.test_subjects)
    key = {"models": {k: str(t.path) for k, t in trained.items()},
           "checkpoint_mtimes": {k: os.path.getmtime(t.path) for k, t in trained.items()}, "scenes": scenes.spec,
           "min_score": args.min_score, "nms_iou": args.nms_iou, "plausibility": args.plausibility,
           "nms_mm": args.nms_mm}
    rows, outputs = {}, {}
    for row in ROWS:
        path = out_root / "rows" / f"{row.name}.json"
        stored = read_json(path, "row results") if path.is_file() else None
        if isinstance(stored, dict) and stored.get("key") == key and (row.name not in GALLERY_ROWS
                                                                       or (out_root / "gallery.npz").is_file()):
            log.info("[%s] %s: already evaluated (%s)", NAME, row.name, path)
            rows[row.name] = stored["result"]
            continue
        rows[row.name], outputs[row.name] = evaluate_row(row, scenes, models, args)
        write_json(path, {"key": key, "result": rows[row.name]})
        r = rows[row.name]
        log.info("[%s] %s: AP_root@25 %.3f, MRPE %.0f mm, 3DPCK %.1f %%, PCK_abs %.1f %%, detection AP50 %.3f",
                 NAME, row.name, r["ap_root_25"], r["mrpe"], r["pck_rel_150"], r["pck_abs_150"], r["detection_ap50"])
    if args.gallery and outputs:
        save_gallery(out_root / "gallery.npz", scenes, outputs, args.gallery)
    summary = {"experiment": NAME, "title": TITLE, "quick": bool(args.quick), "models": key["models"],
               "scenes": scenes.spec, "order": [r.name for r in ROWS], "rows": [rows[r.name] for r in ROWS],
               "winners": winners(rows), "min_score": args.min_score, "nms_iou": args.nms_iou,
               "plausibility": args.plausibility,
               "nms_mm": args.nms_mm, "min_visible_joints": MIN_VISIBLE_JOINTS}
    write_json(out_root / "summary.json", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    return experiment_main(NAME, parse_args, run, argv)
