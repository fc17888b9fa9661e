"""Fig. 4b: average PA error per keypoint type (cm, mean +- std over test frames), Sup vs Ours.

    python paper_plots/fig_4b.py [--results-dir results] [--out-dir results/figures]

Left and right joints of a type are pooled (hips, knees, ...).
"""

import sys

import matplotlib.pyplot as plt
import numpy as np

from lifting.experiments.plots import (
    OURS_COLOR,
    SUP_COLOR,
    UserError,
    cli,
    load_npz,
    load_summary,
    parse,
    parser,
    row,
    save,
    seed_dir,
)


def joint_groups(skeleton_name: str) -> dict[str, list[int]]:
    """{type: joint indices}, centre joints first, then left/right pairs pooled as plurals."""
    from lifting.geometry.skeletons import get_skeleton

    groups: dict[str, list[int]] = {}
    for i, n in enumerate(get_skeleton(skeleton_name).joint_names):
        for side in ("left_", "right_"):
            if n.startswith(side):
                n = n[len(side):] + "s"
        groups.setdefault(n, []).append(i)
    centre = [k for k, v in groups.items() if len(v) == 1]
    return {k: groups[k] for k in centre + [k for k in groups if k not in centre]}


def plot(argv: list[str] | None) -> int:
    args = parse(parser(__doc__.splitlines()[0], "paper_plots/fig_4b.py"), argv)
    summary = load_summary(args.results_dir, "fig_4ab")
    series = {}
    for name in ("sup", "ours"):
        r = row(summary, name, "config")
        data = load_npz(seed_dir(args.results_dir, "fig_4ab", name, r) / "predictions.npz", ("pa_errors",))
        series[name] = (data["pa_errors"].astype(np.float64) / 10.0, r["config"]["skeleton"])
    if series["sup"][1] != series["ours"][1]:
        raise UserError(f"{summary['_path']}: sup and ours use different skeletons ({series['sup'][1]}, {series['ours'][1]})")
    groups = joint_groups(series["sup"][1])
    fig, ax = plt.subplots(figsize=(9, 4.5))
    x = np.arange(len(groups))
    plotted = {"x_label": "Keypoint Type", "y_label": "Average Keypoint Error (cm)", "types": list(groups), "series": {}}
    for k, (name, label, color) in enumerate((("sup", "3D Supervised", SUP_COLOR), ("ours", "Ours Relative", OURS_COLOR))):
        err = series[name][0]
        means = [float(err[:, idx].mean()) for idx in groups.values()]
        stds = [float(err[:, idx].std()) for idx in groups.values()]
        ax.bar(x + (k - 0.5) * 0.4, means, 0.4, yerr=stds, color=color, label=label, capsize=2, alpha=0.9)
        plotted["series"][name] = {"label": label, "mean_cm": means, "std_cm": stds}
    ax.set_xticks(x)
    ax.set_xticklabels([g.replace("_", " ") for g in groups], rotation=30, ha="right")
    ax.set_xlabel(plotted["x_label"])
    ax.set_ylabel(plotted["y_label"])
    ax.set_title("Per-keypoint PA error on the test set")
    ax.legend()
    save(fig, args, "fig_4b", plotted)
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli(plot, argv)


if __name__ == "__main__":
    sys.exit(main())
