"""Absolute 3D pose from results/absolute/summary.json: a table (Markdown) of every row on every test set, full and
truncated crops, and a figure per test set of MRPE against the true root depth and of the x / y / z parts.

    python paper_plots/absolute.py [--results-dir results] [--out-dir results/figures]
"""

import sys

import matplotlib.pyplot as plt
import numpy as np

from lifting.experiments.plots import UserError, cli, done_rows, load_summary, out_dir, parse, parser, save
from lifting.fileio import write_text

COLUMNS = (("MRPE", "mrpe", 1), ("x", "mrpe_x", 1), ("y", "mrpe_y", 1), ("z", "mrpe_z", 1),
           ("AP_root@25cm (%)", "ap_root25", 100), ("A-MPJPE", "a_mpjpe", 1), ("poses within 150 mm (%)",
                                                                              "poses_within_150", 1))


def table(summary: dict, names: list[str]) -> str:
    lines = [f"**{summary['title']}**", "",
             "Original camera frame, mm. Roots of the k-prior and RootNet rows are placed under the MeTRo "
             "root-relative pose for A-MPJPE. AP_root@25cm scores every crop 1, so it is the squared share of roots "
             "within 25 cm." + (" Quick run: numbers are meaningless." if summary.get("quick") else ""), ""]
    for ts in summary["test_sets"]:
        for kind, res in ts["crops"].items():
            lines += [f"*{ts['label']}, {kind} crops ({res['num_crops']}; MeTRo root-relative MPJPE "
                      f"{res['metro_mpjpe']:.1f} mm, mean true gamma {res['gamma_true_mean']:.3f})*", "",
                      "| roots from | " + " | ".join(c[0] for c in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
            for n in names:
                r = res["rows"][n]
                lines.append(f"| {summary['rows'][n]['label']} | "
                             + " | ".join(f"{scale * float(r[key]):.1f}" for _, key, scale in COLUMNS) + " |")
            lines.append("")
    return "\n".join(lines)


def plot(argv: list[str] | None) -> int:
    args = parse(parser(__doc__.splitlines()[0], "paper_plots/absolute.py"), argv)
    summary = load_summary(args.results_dir, "absolute")
    names = done_rows(summary)
    sets = summary.get("test_sets") or []
    if not names or not sets:
        raise UserError(f"{summary['_path']}: no rows or test sets; rerun paper_exps/absolute.py")
    path = write_text(out_dir(args) / "absolute.md", table(summary, names))
    print(f"wrote {path}")
    fig, axes = plt.subplots(len(sets), 2, figsize=(12, 4.2 * len(sets)), squeeze=False)
    plotted = {"y_label": "mm", "series": {}}
    colors = {n: f"C{i}" for i, n in enumerate(names)}
    for (ax_depth, ax_xyz), ts in zip(axes, sets):
        full, truncated = ts["crops"]["full"]["rows"], ts["crops"]["truncated"]["rows"]
        bins = full[names[0]]["mrpe_by_depth"]
        ticks = [f"<{b['hi'] / 1000:g}" if b["lo"] is None else f"≥{b['lo'] / 1000:g}" if b["hi"] is None
                 else f"{b['lo'] / 1000:g}-{b['hi'] / 1000:g}" for b in bins]
        series = {}
        for n in names:
            y = [b["mrpe"] for b in full[n]["mrpe_by_depth"]]
            ax_depth.plot(range(len(bins)), [np.nan if v is None else v for v in y], "o-", color=colors[n],
                          label=summary["rows"][n]["label"])
            series[n] = {"mrpe_by_depth": y, "counts": [b["count"] for b in full[n]["mrpe_by_depth"]],
                         "xyz_full": [full[n][k] for k in ("mrpe_x", "mrpe_y", "mrpe_z")],
                         "xyz_truncated": [truncated[n][k] for k in ("mrpe_x", "mrpe_y", "mrpe_z")]}
        ax_depth.set_xticks(range(len(bins)))
        ax_depth.set_xticklabels([f"{t} m\n(n={b['count']})" for t, b in zip(ticks, bins)], fontsize=8)
        ax_depth.set_xlabel("true root depth")
        ax_depth.set_ylabel("MRPE (mm), full crops")
        ax_depth.set_title(ts["label"], fontsize=10)
        ax_depth.legend(fontsize=7)
        width = 0.8 / (2 * len(names))
        for i, n in enumerate(names):
            x = np.arange(3) + (2 * i - (2 * len(names) - 1) / 2) * width
            ax_xyz.bar(x, series[n]["xyz_full"], width, color=colors[n], label=summary["rows"][n]["label"])
            ax_xyz.bar(x + width, series[n]["xyz_truncated"], width, fill=False, edgecolor=colors[n], hatch="//")
        ax_xyz.set_xticks(range(3))
        ax_xyz.set_xticklabels(["x", "y", "z"])
        ax_xyz.set_ylabel("mean |error| (mm): full crops filled, truncated hatched")
        ax_xyz.set_title(f"{ts['label']}: MRPE per axis", fontsize=10)
        plotted["series"][ts["name"]] = {"depth_bins_m": ticks, "rows": series}
    fig.tight_layout()
    save(fig, args, "absolute", plotted)
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli(plot, argv)


if __name__ == "__main__":
    sys.exit(main())
