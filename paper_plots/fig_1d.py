"""Fig. 1d: reconstructed 3D pose error (PA-MPJPE, cm) vs amount of training labels (MB), Sup vs Ours.

    python paper_plots/fig_1d.py [--results-dir results] [--out-dir results/figures]

Label volume as in the paper: a 3D pose costs J x 3 coordinates x 8 bits, one relative pair 1 bit;
the amount is (training samples used) x (bits per sample) / 8e6.
"""

import sys

import matplotlib.pyplot as plt

from lifting.experiments.plots import (
    OURS_COLOR,
    SUP_COLOR,
    UserError,
    cli,
    done_rows,
    load_summary,
    metric_cm,
    parse,
    parser,
    row,
    save,
)

MARKERS = "osD^vP*X"


def label_megabytes(r: dict) -> float:
    from lifting.geometry.skeletons import get_skeleton

    cfg = r["config"]
    j = get_skeleton(cfg["skeleton"]).num_joints
    n = float(r["num_train_samples"])
    if cfg["model"] == "supervised":
        bits = j * 3 * 8
    else:
        pairs = cfg["num_pairs"]
        bits = j * (j - 1) // 2 if pairs == "all" else int(pairs)
    return n * bits / 8e6


def plot(argv: list[str] | None) -> int:
    args = parse(parser(__doc__.splitlines()[0], "paper_plots/fig_1d.py"), argv)
    summary = load_summary(args.results_dir, "fig_1d")
    names = done_rows(summary)
    if not names:
        raise UserError(f"{summary['_path']}: no finished rows to plot")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    plotted = {"x_label": "Amount of Training Data (MB)", "y_label": "Reconstructed 3D Pose Error (cm)", "series": {}}
    handles = {"sup": [], "ours": []}
    for name in names:
        r = row(summary, name, "config", "num_train_samples", "pa_mpjpe")
        series = r["params"].get("series", "sup" if r["config"]["model"] == "supervised" else "ours")
        x, (y, err) = label_megabytes(r), metric_cm(r)
        color = SUP_COLOR if series == "sup" else OURS_COLOR
        h = ax.errorbar([x], [y], yerr=[err] if err else None, fmt=MARKERS[len(handles[series]) % len(MARKERS)],
                        color=color, markersize=8, label=r["label"], capsize=3)
        handles[series].append(h)
        plotted["series"].setdefault(series, []).append({"row": name, "label": r["label"], "x_mb": x,
                                                         "y_cm": y, "y_std_cm": err})
    ax.set_xscale("log")
    ax.set_xlabel(plotted["x_label"])
    ax.set_ylabel(plotted["y_label"])
    ax.set_title("Accuracy vs amount of supervision (Human3.6M, PA-MPJPE)")
    ax.grid(True, which="both", alpha=0.3)
    first = None
    for series, title in (("sup", "3D Supervised"), ("ours", "Ours Relative")):
        if handles[series]:
            # Beside the axes, where no point can hide under them.
            leg = ax.legend(handles=handles[series], title=title, fontsize=8, title_fontsize=9,
                            loc="upper left" if first is None else "lower left",
                            bbox_to_anchor=(1.02, 1.0) if first is None else (1.02, 0.0))
            if first is None:
                first = leg
                ax.add_artist(leg)
    save(fig, args, "fig_1d", plotted)
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli(plot, argv)


if __name__ == "__main__":
    sys.exit(main())
