"""Operating point of detect_poses: people found and false alarms by detector score threshold and box NMS.

    python bench/multiperson_threshold.py --data-dir ../shared/data/h36m --subjects 1,5,6,7 --seed 7 \
        --detector DET --estimator EST [--rootnet RN] [--nms-iou none,0.5]

Scenes are rendered as the multi-person benchmark renders its test scenes (the detector's scene settings, 640x480),
from the poses of --subjects with --seed: pick defaults on the training subjects' scenes, then report them once on
the test subject's (--subjects 8 --seed 2021 are the benchmark's own). detect_poses runs once per --nms-iou value at
the lowest threshold; a higher threshold keeps exactly the people it would have kept itself (box NMS, the pose
filter and the 3D NMS go by falling score), so each row is the benchmark's `det_*` row at that --min-score. Found:
share of the people with at least 6 visible joints matched in 2D; false: share of the predictions matched to nobody.
"""

import sys

import torch

from lifting.checkpoint import load_trained
from lifting.cli import ArgumentParser, add_option, run_cli
from lifting.config import opt
from lifting.errors import UserError
from lifting.experiments.arguments import add_subjects
from lifting.experiments.multiperson import scene_config, test_scenes
from lifting.inference.multiperson import PLAUSIBILITY, detect_poses
from lifting.metrics import evaluate_multiperson

SCORES = [round(0.2 + 0.025 * i, 3) for i in range(17)]   # 0.2 .. 0.6


def _iou(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:
        raise UserError(f"--nms-iou: {text!r}: expected 'none' or a number in (0, 1]")
    return value


def _main(argv: list[str] | None) -> int:
    p = ArgumentParser(prog="bench/multiperson_threshold.py", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", help="Human3.6M h5-annotation folder (default: the detector's)")
    add_subjects(p, "--subjects", "subjects the scenes are drawn from (default: the detector's test subjects)")
    add_option(p, "--seed", opt(int, 7, "scene seed", minimum=0, maximum=2**31 - 1))
    add_option(p, "--scenes", opt(int, 100, "scenes", minimum=1, maximum=100_000))
    for kind in ("detector", "estimator"):
        p.add_argument(f"--{kind}", required=True, metavar="RUN",
                       help=f"trained {kind}: run dir, checkpoint or zoo name")
    p.add_argument("--rootnet", metavar="RUN", help="RootNet for the roots (default: the estimator's own)")
    p.add_argument("--nms-iou", default="none", help="comma-separated box NMS IoUs of detect_poses, 'none' = the "
                                                     "detector's own only (default none)")
    add_option(p, "--plausibility", opt(float, PLAUSIBILITY, "detect_poses' implausible-pose tolerance (null: off)",
                                        nullable=True, minimum=1e-3, maximum=100.0))
    add_option(p, "--max-false", opt(float, 0.05, "false-alarm share the best threshold may have", minimum=0.0,
                                     maximum=1.0))
    add_option(p, "--threads", opt(int, 2, "CPU threads", minimum=1, maximum=1024))
    args = p.parse_args(argv)
    ious = [_iou(v) for v in args.nms_iou.split(",")]
    torch.set_num_threads(args.threads)
    det = load_trained(args.detector, "detector")
    est = load_trained(args.estimator, "estimator").model
    rootnet = None if args.rootnet is None else load_trained(args.rootnet, "rootnet").model
    scenes = test_scenes(scene_config(det.config), args.scenes, (640, 480), args.data_dir, None, args.subjects,
                         args.seed)
    print(f"{args.scenes} scenes of S{scenes.spec['subjects']} (seed {args.seed}), detector {det.path}, "
          f"estimator {args.estimator}, roots {'RootNet ' + args.rootnet if rootnet else 'MeTRAbs'}, "
          f"plausibility {args.plausibility}")
    print("| nms_iou | min_score | found % | false % | predictions |\n|---|---|---|---|---|")
    best = {}
    for iou in ious:
        outputs = []
        for s in range(0, len(scenes.images), 8):
            outputs += detect_poses(scenes.images[s:s + 8], det.model, est, rootnet, scenes.K[s:s + 8],
                                    min_score=SCORES[0], nms_iou=iou, plausibility=args.plausibility)
        for t in SCORES:
            kept = [{k: v[o["scores"] >= t] for k, v in o.items()} for o in outputs]
            r = evaluate_multiperson(kept, scenes.truths)
            false = r["num_false_alarms"] / r["num_predictions"] if r["num_predictions"] else 0.0
            print(f"| {iou} | {t:.3f} | {100 * r['recall']:.1f} | {100 * false:.1f} | {r['num_predictions']} |")
            if false <= args.max_false and r["recall"] > best.get(iou, (None, -1.0))[1]:
                best[iou] = (t, r["recall"], false)
    for iou in ious:
        if iou in best:
            t, found, false = best[iou]
            print(f"nms_iou {iou}: most found with at most {100 * args.max_false:g} % false at min_score {t:.3f} "
                  f"({100 * found:.1f} % found, {100 * false:.1f} % false)")
        else:
            print(f"nms_iou {iou}: no threshold keeps false alarms at or below {100 * args.max_false:g} %")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
