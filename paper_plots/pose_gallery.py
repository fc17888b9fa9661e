"""Pose gallery: 2D input | predicted 3D (Procrustes-aligned) | ground-truth 3D for chosen test frames.

    python paper_plots/pose_gallery.py [--experiment fig_4ab --row ours] [--frames 0,100,200 | --num 6 --pick spread]

Reads results/<experiment>/<row>/seed_0/predictions.npz (any run with save_predictions: true).
--pick: 'spread' = evenly spaced frames, 'best' / 'worst' = lowest / highest per-frame PA error.
"""

import sys

import numpy as np

from lifting.cli import add_option
from lifting.config import opt
from lifting.experiments.plots import UserError, cli, load_npz, load_summary, parse, parser, row, save, seed_dir

KEYS = ("pred3d", "gt3d", "pa_errors", "joints2d_px", "subject", "action", "camera", "frame")


FRAMES = opt(list, None, "comma-separated indices into the run's test samples", item=int, nullable=True, minimum=0,
             maximum=10 ** 8, nonempty=True)
NUM = opt(int, 6, "number of frames when --frames is not given", minimum=1, maximum=100)


def plot(argv: list[str] | None) -> int:
    p = parser(__doc__.splitlines()[0], "paper_plots/pose_gallery.py")
    p.add_argument("--experiment", default="fig_4ab")
    p.add_argument("--row", default="ours")
    add_option(p, "--frames", FRAMES)
    add_option(p, "--num", NUM)
    p.add_argument("--pick", choices=("spread", "best", "worst"), default="spread")
    args = parse(p, argv)
    from lifting.metrics import procrustes_align
    from lifting.viz import prediction_grid

    summary = load_summary(args.results_dir, args.experiment)
    r = row(summary, args.row, "config")
    path = seed_dir(args.results_dir, args.experiment, args.row, r) / "predictions.npz"
    d = load_npz(path, KEYS)
    n = len(d["pred3d"])
    frame_err = d["pa_errors"].mean(1)
    if args.frames:
        pick = args.frames
        bad = [i for i in pick if not 0 <= i < n]
        if bad:
            raise UserError(f"--frames: {bad} out of range 0..{n - 1} for {path}")
    elif args.pick == "spread":
        pick = np.linspace(0, n - 1, min(args.num, n)).round().astype(int).tolist()
    else:
        order = np.argsort(frame_err)
        pick = (order[:args.num] if args.pick == "best" else order[::-1][:args.num]).tolist()
    aligned = procrustes_align(d["pred3d"][pick], d["gt3d"][pick])
    titles = [f"S{d['subject'][i]} {d['action'][i]} cam {d['camera'][i]} frame {d['frame'][i]}\n"
              f"PA-MPJPE {frame_err[i]:.1f} mm" for i in pick]
    fig = prediction_grid(d["joints2d_px"][pick], aligned, d["gt3d"][pick], r["config"]["skeleton"], titles)
    fig.suptitle(f"{r['label']} ({args.experiment}/{args.row}): 2D input (px) | prediction | ground truth (mm)",
                 fontsize=10)
    fig.subplots_adjust(top=1 - 1.0 / (3.0 * len(pick)))
    plotted = {"experiment": args.experiment, "row": args.row, "frames": [int(i) for i in pick],
               "pa_mpjpe_mm": [float(frame_err[i]) for i in pick]}
    save(fig, args, f"pose_gallery_{args.experiment}_{args.row}", plotted)
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli(plot, argv)


if __name__ == "__main__":
    sys.exit(main())
