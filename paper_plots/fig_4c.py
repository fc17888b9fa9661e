"""Fig. 4c: robustness to 2D input noise - error with test-only noise vs with train+test noise (cm).

    python paper_plots/fig_4c.py [--results-dir results] [--out-dir results/figures]

Reads fig_4c_test_noise and fig_4c_train_test_noise. Points: noise variance 0, 10, 20 px^2 and
stacked-hourglass detections (DTS, if those rows ran); colour = model, marker = level; dotted y = x.
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
    save,
)

LEVELS = {"0": ("o", "σ²=0"), "10": ("s", "σ²=10"), "20": ("^", "σ²=20"), "dts": ("*", "DTS")}


def plot(argv: list[str] | None) -> int:
    args = parse(parser(__doc__.splitlines()[0], "paper_plots/fig_4c.py"), argv)
    test = load_summary(args.results_dir, "fig_4c_test_noise")
    both = load_summary(args.results_dir, "fig_4c_train_test_noise")
    fig, ax = plt.subplots(figsize=(6, 6))
    plotted = {"x_label": "3D Pose Error (cm) - Test Noise (GT/SH)",
               "y_label": "3D Pose Error (cm) - Train Test Noise (SH/SH)", "series": {}}
    values = []
    for model, title, color in (("sup", "3D Supervised", SUP_COLOR), ("ours", "Ours Relative", OURS_COLOR)):
        handles = []
        for level, (marker, text) in LEVELS.items():
            name = f"{model}_{level}"
            if name not in done_rows(test) or name not in done_rows(both):
                continue
            (x, xs), (y, ys) = metric_cm(test["rows"][name]), metric_cm(both["rows"][name])
            h = ax.errorbar([x], [y], xerr=[xs] if xs else None, yerr=[ys] if ys else None, fmt=marker,
                            color=color, markersize=9, label=text, capsize=3)
            handles.append(h)
            values += [x, y]
            plotted["series"].setdefault(model, []).append({"level": level, "x_cm": x, "y_cm": y})
        if handles:
            leg = ax.legend(handles=handles, title=title, loc="upper left" if model == "sup" else "lower right",
                            fontsize=8, title_fontsize=9)
            ax.add_artist(leg)
    if not values:
        raise UserError(f"{test['_path']}: no level finished in both fig_4c experiments")
    lo, hi = min(values), max(values)
    pad = 0.1 * (hi - lo) + 0.2
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], ":", color="0.4")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")
    ax.set_xlabel(plotted["x_label"])
    ax.set_ylabel(plotted["y_label"])
    ax.set_title("Robustness to 2D noise (PA-MPJPE)")
    ax.grid(True, alpha=0.3)
    save(fig, args, "fig_4c", plotted)
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli(plot, argv)


if __name__ == "__main__":
    sys.exit(main())
