"""Fig. 5: Human3.6M-trained lifters on LSP - depth-order accuracy on the LSP test pairs, and one LSP
test image's 2D annotation lifted by the three H36M-based models.

    python paper_plots/fig_5.py [--results-dir results] [--out-dir results/figures] [--image-index I]
"""

import sys

import matplotlib.pyplot as plt
import numpy as np

from lifting.cli import add_option
from lifting.config import opt
from lifting.experiments.plots import (
    OURS_COLOR,
    SUP_COLOR,
    UserError,
    cli,
    done_rows,
    load_npz,
    load_summary,
    parse,
    parser,
    row,
    save,
    seed_dir,
)

ACCURACY_ROWS = ("lsp_sup_test", "lsp_rel_test", "lsp_rel_ft", "lsp_rel_scratch")
POSE_ROWS = (("lsp_sup_test", "3D Supervised H36"), ("lsp_rel_test", "Ours Relative H36"),
             ("lsp_rel_ft", "Ours Relative H36 + LSP FT"))


def plot(argv: list[str] | None) -> int:
    p = parser(__doc__.splitlines()[0], "paper_plots/fig_5.py")
    add_option(p, "--image-index", opt(int, None, "LSP test image to draw (default: a fixed random one)", nullable=True,
                                       minimum=0, maximum=10 ** 6))
    args = parse(p, argv)
    from lifting.viz import draw_pose_2d, draw_pose_3d

    summary = load_summary(args.results_dir, "fig_5")
    names = done_rows(summary, ACCURACY_ROWS)
    if not names:
        raise UserError(f"{summary['_path']}: no LSP row finished (they need --lsp-json); nothing to plot")
    poses = {n: load_npz(seed_dir(args.results_dir, "fig_5", n, row(summary, n)) / "predictions.npz",
                         ("pred3d", "joints2d_px", "image_file")) for n, _ in POSE_ROWS if n in names}
    fig = plt.figure(figsize=(4 + 3.2 * (1 + len(poses)), 4))
    ax = fig.add_subplot(1, 2 + len(poses), 1)
    acc = [100 * float(summary["rows"][n]["pair_accuracy"]) for n in names]
    std = [100 * float(summary["rows"][n].get("pair_accuracy_std", 0.0)) for n in names]
    colors = [SUP_COLOR if "sup" in n else OURS_COLOR for n in names]
    ax.bar(np.arange(len(names)), acc, 0.6, yerr=std, color=colors, capsize=3)
    ax.axhline(50, linestyle=":", color="0.4")
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels([summary["rows"][n]["label"] for n in names], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("LSP test depth-order accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Relative depth on LSP", fontsize=10)
    plotted = {"y_label": "LSP test depth-order accuracy (%)",
               "series": {"accuracy": [{"row": n, "label": summary["rows"][n]["label"], "accuracy_pct": a, "std_pct": s}
                                       for n, a, s in zip(names, acc, std)]}}
    if poses:
        first = next(iter(poses.values()))
        m = len(first["pred3d"])
        i = int(np.random.default_rng(0).integers(m)) if args.image_index is None else args.image_index
        if not 0 <= i < m:
            raise UserError(f"--image-index: expected 0..{m - 1}, got {i}")
        ax = fig.add_subplot(1, 2 + len(poses), 2)
        draw_pose_2d(ax, first["joints2d_px"][i], "lsp_14")
        ax.set_title(f"LSP {first['image_file'][i]} (2D, px)", fontsize=9)
        for k, (n, title) in enumerate((n, t) for n, t in POSE_ROWS if n in poses):
            ax = fig.add_subplot(1, 2 + len(poses), 3 + k, projection="3d")
            draw_pose_3d(ax, poses[n]["pred3d"][i], "lsp_14", label_axes=False)
            ax.set_title(title, fontsize=9)
        plotted["image_index"] = i
        plotted["image_file"] = str(first["image_file"][i])
    fig.tight_layout()
    save(fig, args, "fig_5", plotted)
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli(plot, argv)


if __name__ == "__main__":
    sys.exit(main())
