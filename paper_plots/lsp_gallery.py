"""LSP gallery: real LSP 2D annotations (joints.mat) beside their 3D poses lifted by a 14-joint model.

    python paper_plots/lsp_gallery.py [--experiment fig_5 --row lsp_rel_ft] [--joints-mat ../shared/data/lsp/joints.mat]
                                      [--num 8] [--seed 0]

The model is the row's run (an LSP run, or an H36M run trained with skeleton lsp_14). Only images
with all 14 joints visible are drawn. Inputs are z-scored with the LSP statistics stored in an LSP
run, or, for an H36M-only run, with statistics of the fully visible poses of joints.mat itself.
"""

import sys

import matplotlib.pyplot as plt
import numpy as np

from lifting.cli import add_option
from lifting.config import opt
from lifting.experiments.plots import UserError, cli, load_summary, parse, parser, row, save, seed_dir

DEFAULT_JOINTS = "../shared/data/lsp/joints.mat"


def plot(argv: list[str] | None) -> int:
    p = parser(__doc__.splitlines()[0], "paper_plots/lsp_gallery.py")
    p.add_argument("--experiment", default="fig_5")
    p.add_argument("--row", default="lsp_rel_ft", help="a run of a 14-joint model (e.g. lsp_rel_ft, h36m_rel_14)")
    p.add_argument("--joints-mat", default=DEFAULT_JOINTS, help=f"LSP joints.mat (default {DEFAULT_JOINTS})")
    add_option(p, "--num", opt(int, 8, "number of images", minimum=1, maximum=100))
    add_option(p, "--seed", opt(int, 0, "which random images", minimum=0, maximum=2 ** 32 - 1))
    args = parse(p, argv)
    import torch

    from lifting.checkpoint import load_trained
    from lifting.datasets.lsp import centre_on_neck, read_joints_mat
    from lifting.datasets.normalize import Stats
    from lifting.inference.lifter import predict
    from lifting.viz import draw_pose_2d, draw_pose_3d

    summary = load_summary(args.results_dir, args.experiment)
    run_dir = seed_dir(args.results_dir, args.experiment, args.row, row(summary, args.row))
    trained = load_trained(run_dir, "lifter")
    if trained.config["skeleton"] != "lsp_14":
        raise UserError(f"{run_dir}: a {trained.config['skeleton']} model; the LSP gallery needs a 14-joint (lsp_14) "
                        "run")
    xy, visible = read_joints_mat(args.joints_mat)
    complete = np.flatnonzero(visible.all(1))
    if len(complete) == 0:
        raise UserError(f"{args.joints_mat}: no image has all 14 joints visible")
    if "rel_depth" in trained.task:  # an LSP run: its LSP training statistics
        stats = Stats.from_dict(trained.task["stats"])
        source = "LSP training images of the run"
    else:
        stats = Stats.compute(centre_on_neck(xy[complete]), None)
        source = f"{len(complete)} fully visible poses of {args.joints_mat}"
    pick = np.sort(np.random.default_rng(args.seed).choice(complete, min(args.num, len(complete)), replace=False))
    x = torch.from_numpy(stats.standardize_2d(centre_on_neck(xy[pick])))
    pred = predict(trained.model, x, 1024, "cpu")
    cols = 4
    rows = int(np.ceil(len(pick) / 2))
    fig = plt.figure(figsize=(3.2 * cols, 3.0 * rows))
    for k, i in enumerate(pick):
        ax = fig.add_subplot(rows, cols, 2 * k + 1)
        draw_pose_2d(ax, xy[i], "lsp_14")
        ax.set_title(f"im{i + 1:05d} 2D annotation (px)", fontsize=8)
        ax = fig.add_subplot(rows, cols, 2 * k + 2, projection="3d")
        draw_pose_3d(ax, pred[k], "lsp_14", label_axes=False)
        ax.set_title("lifted 3D (mm, camera frame)", fontsize=8)
    fig.suptitle(f"LSP poses lifted by {summary['rows'][args.row]['label']} ({args.experiment}/{args.row})", fontsize=10)
    fig.tight_layout()
    plotted = {"experiment": args.experiment, "row": args.row, "images": [int(i) + 1 for i in pick],
               "input_statistics": source, "pred3d_mm": pred.round(1).tolist()}
    save(fig, args, f"lsp_gallery_{args.experiment}_{args.row}", plotted)
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli(plot, argv)


if __name__ == "__main__":
    sys.exit(main())
