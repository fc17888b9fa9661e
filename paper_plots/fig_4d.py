"""Fig. 4d: 3D error (PA-MPJPE, cm) of the relative model vs the fraction of corrupted relative labels.

    python paper_plots/fig_4d.py [--results-dir results] [--out-dir results/figures]
"""

import sys

import matplotlib.pyplot as plt
import numpy as np

from lifting.experiments.plots import (
    OURS_COLOR,
    UserError,
    cli,
    done_rows,
    load_summary,
    metric_cm,
    parse,
    parser,
    save,
)


def plot(argv: list[str] | None) -> int:
    args = parse(parser(__doc__.splitlines()[0], "paper_plots/fig_4d.py"), argv)
    summary = load_summary(args.results_dir, "fig_4d")
    names = done_rows(summary)
    if not names:
        raise UserError(f"{summary['_path']}: no finished rows to plot")
    vals = [metric_cm(summary["rows"][n]) for n in names]
    labels = [summary["rows"][n]["label"] for n in names]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = np.arange(len(names))
    ax.bar(x, [v[0] for v in vals], 0.6, yerr=[v[1] for v in vals], color=OURS_COLOR, capsize=3, label="Ours Relative")
    ax.set_xticks(x)
    ax.set_xticklabels(labels)
    ax.set_xlabel("Percentage of Corrupted Relative Labels")
    ax.set_ylabel("Reconstructed 3D Pose Error (cm)")
    ax.set_title("Robustness to relative-label noise (PA-MPJPE)")
    ax.legend()
    plotted = {"x_label": "Percentage of Corrupted Relative Labels", "y_label": "Reconstructed 3D Pose Error (cm)",
               "series": {"ours": [{"row": n, "label": lab, "y_cm": v[0], "y_std_cm": v[1]}
                                   for n, lab, v in zip(names, labels, vals)]}}
    save(fig, args, "fig_4d", plotted)
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli(plot, argv)


if __name__ == "__main__":
    sys.exit(main())
