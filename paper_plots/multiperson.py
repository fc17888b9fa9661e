"""Multi-person absolute 3D pose from results/multiperson/: a table (Markdown) of every row and of which root source
wins where, the metrics by distance, and a gallery of test scenes with the detected 3D people drawn from the camera
(projected onto the image) and from above.

    python paper_plots/multiperson.py [--results-dir results] [--out-dir results/figures]
"""

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from lifting.experiments.plots import UserError, cli, load_npz, load_summary, out_dir, parse, parser, row, save
from lifting.fileio import write_text
from lifting.geometry.skeletons import H36M_17

NAME = "multiperson"
REQUIRED = ("name", "label", "ap_root_25", "mrpe", "mrpe_x", "mrpe_y", "mrpe_z", "pck_rel_150", "pck_abs_150",
            "detection_ap50", "detection_recall50", "recall", "false_box_share", "by_distance", "by_occlusion")
COLUMNS = (("AP_root@25cm (%)", "ap_root_25", 100), ("MRPE", "mrpe", 1), ("x", "mrpe_x", 1), ("y", "mrpe_y", 1),
           ("z", "mrpe_z", 1), ("3DPCK@150 (%)", "pck_rel_150", 1), ("PCK_abs@150 (%)", "pck_abs_150", 1),
           ("det. AP50 (%)", "detection_ap50", 100), ("boxes found (%)", "detection_recall50", 100),
           ("false boxes (%)", "false_box_share", 100), ("matched in 2D (%)", "recall", 100))
BY_BIN = (("AP_root@25cm (%)", "ap_root_25", 100), ("MRPE (mm)", "mrpe", 1), ("PCK_abs@150 (%)", "pck_abs_150", 1))
GALLERY_COLORS = {"det_rootnet": ("tab:blue", "blue"), "det_metrabs": ("darkorange", "orange")}
OTHER = ("tab:green", "green")


def load(results_dir: str) -> dict:
    """summary.json with its rows in table order, each checked for what the table and figures use."""
    summary = load_summary(results_dir, NAME)
    if not summary["order"]:
        raise UserError(f"{summary['_path']}: no rows; rerun paper_exps/{NAME}.py")
    return {**summary, "rows": [row(summary, name, *REQUIRED) for name in summary["order"]]}


def _num(value: float, scale: float) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{scale * float(value):.1f}"


def table(summary: dict) -> str:
    s = summary["scenes"]
    lines = [f"**{summary['title']}**", "",
             f"{s['count']} test scenes of S{','.join(map(str, s['subjects']))} poses ({s['width']}x{s['height']} px, "
             f"{s['people'][0]}-{s['people'][1]} people, {s['distance_mm'][0] / 1000:g}-{s['distance_mm'][1] / 1000:g}"
             f" m); people with >= {summary['min_visible_joints']} of 17 joints visible, matched by 2D; missed people "
             "count as wrong in the PCKs. mm, camera frame. AP_root ranks every prediction by its detection score "
             "(true boxes: all 1)." + (" Quick run: numbers are meaningless." if summary.get("quick") else ""), "",
             "| row | " + " | ".join(c[0] for c in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for r in summary["rows"]:
        lines.append(f"| {r['label']} | " + " | ".join(_num(r[key], scale) for _, key, scale in COLUMNS) + " |")
    if summary.get("winners"):
        lines += ["", "*Detector boxes: RootNet + MeTRo vs MeTRAbs, AP_root@25cm (%) and MRPE (mm) per bin*", "",
                  "| split | bin | people | RootNet AP | MeTRAbs AP | RootNet MRPE | MeTRAbs MRPE | better |",
                  "|---|---|---|---|---|---|---|---|"]
        for w in summary["winners"]:
            lines.append(f"| {w['split'].replace('by_', '')} | {w['bin']} | {w['num_people']} | "
                         f"{_num(w['ap_root_25']['rootnet'], 100)} | {_num(w['ap_root_25']['metrabs'], 100)} | "
                         f"{_num(w['mrpe']['rootnet'], 1)} | {_num(w['mrpe']['metrabs'], 1)} | {w['winner']} |")
    return "\n".join(lines) + "\n"


def by_distance(summary: dict, args) -> None:
    rows = summary["rows"]
    bins = [b["bin"] for b in rows[0]["by_distance"]]
    fig, axes = plt.subplots(1, len(BY_BIN), figsize=(5 * len(BY_BIN), 4))
    plotted = {"bins": bins, "series": {}}
    for i, r in enumerate(rows):
        plotted["series"][r["name"]] = {}
        for ax, (_, key, scale) in zip(axes, BY_BIN):
            y = [np.nan if b[key] is None else scale * b[key] for b in r["by_distance"]]
            ax.plot(range(len(bins)), y, "o-", color=f"C{i}", label=r["label"])
            plotted["series"][r["name"]][key] = y
    counts = [b["num_people"] for b in rows[0]["by_distance"]]
    for ax, (label, _, _) in zip(axes, BY_BIN):
        ax.set_xticks(range(len(bins)))
        ax.set_xticklabels([f"{b}\n(n={n})" for b, n in zip(bins, counts)], fontsize=8)
        ax.set_xlabel("true root depth")
        ax.set_ylabel(label)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    save(fig, args, "multiperson_by_distance", plotted)


def _draw(ax, joints: np.ndarray, color: str, dims: tuple[int, int], **kw) -> None:
    for a, b in H36M_17.limbs:
        ax.plot(joints[[a, b], dims[0]], joints[[a, b], dims[1]], color=color, **kw)


def gallery(results_dir: str, args) -> None:
    g = load_npz(Path(results_dir) / NAME / "gallery.npz", ("images", "K", "gt_poses3d", "rows"))
    names = [str(n) for n in g["rows"]]
    count = len(g["images"])
    if count == 0:
        raise UserError(f"{results_dir}/{NAME}/gallery.npz holds no scenes; rerun paper_exps/{NAME}.py --gallery N")
    fig, axes = plt.subplots(count, 2, figsize=(10, 3.6 * count), squeeze=False)
    plotted = {"rows": names, "scenes": []}
    for i, (ax_cam, ax_top) in enumerate(axes):
        ax_cam.imshow(g["images"][i])
        K = g["K"][i]
        scene = {"people_true": int(np.isfinite(g["gt_poses3d"][i, :, 0, 0]).sum())}
        for person in g["gt_poses3d"][i]:
            if np.isfinite(person).all():
                _draw(ax_top, person, "k", (0, 2), linewidth=2.5, alpha=0.35)
        for name in names:
            color = GALLERY_COLORS.get(name, OTHER)[0]
            poses = g[f"{name}_poses3d"][i]
            found = [p for p in poses if np.isfinite(p).all()]
            scene[f"people_{name}"] = len(found)
            for p in found:
                px = p[:, :2] / p[:, 2:] * K[[0, 1], [0, 1]] + K[:2, 2]
                _draw(ax_cam, px, color, (0, 1), linewidth=1.2)
                _draw(ax_top, p, color, (0, 2), linewidth=1.2)
        ax_cam.set_xlim(-0.5, g["images"].shape[2] - 0.5)
        ax_cam.set_ylim(g["images"].shape[1] - 0.5, -0.5)
        ax_cam.set_axis_off()
        ax_cam.set_title(f"scene {i}: from the camera", fontsize=9)
        ax_top.set_aspect("equal", adjustable="datalim")
        ax_top.set_xlabel("x (mm)")
        ax_top.set_ylabel("depth z (mm)")
        ax_top.set_title("from above: true (grey), " + ", ".join(
            f"{n} ({GALLERY_COLORS.get(n, OTHER)[1]})" for n in names), fontsize=8)
        plotted["scenes"].append(scene)
    fig.tight_layout()
    save(fig, args, "multiperson_gallery", plotted)


def plot(argv: list[str] | None) -> int:
    args = parse(parser(__doc__.splitlines()[0], f"paper_plots/{NAME}.py"), argv)
    summary = load(args.results_dir)
    path = write_text(out_dir(args) / f"{NAME}.md", table(summary))
    print(f"wrote {path}")
    by_distance(summary, args)
    gallery(args.results_dir, args)
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli(plot, argv)


if __name__ == "__main__":
    sys.exit(main())
