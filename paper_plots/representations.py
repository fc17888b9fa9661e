"""Representation study figures and tables, from results/representations/ only.

    python paper_plots/representations.py [--results-dir results] [--out-dir results/figures]

representations_bars          PA-MPJPE and N-MPJPE per input condition, one bar per lifter (mean +- std over seeds)
representations_error_vs_2d   3D error against the error of the 2D the lifter saw at test time
representations_actions       per-action PA-MPJPE of every row (heat table)
representations_gallery       the same test frames in every row: the 2D it saw on the image, its 3D over GT 3D
representations_lsp           LSP: annotated and estimated 2D on the image, the 3D of every LSP row
representations.md            the tables (rows, truncated slice, LSP, estimator, stage times) for the README
"""

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from lifting.experiments.plots import (
    OURS_COLOR,
    SUP_COLOR,
    UserError,
    cli,
    load_npz,
    load_summary,
    out_dir,
    parse,
    parser,
    save,
)

EXPERIMENT = "representations"
COLORS = {"sup": SUP_COLOR, "rel": OURS_COLOR, "estimator": "tab:green"}
MARKERS = {"sup": "o", "rel": "s", "estimator": "*"}
METRICS = (("pa_mpjpe", "PA-MPJPE"), ("n_mpjpe", "N-MPJPE"))


def study_rows(summary: dict) -> list[tuple[str, dict]]:
    """Finished Human3.6M rows of the study (the 14-joint LSP lifters excluded), in table order."""
    keys = {c["key"] for c in summary["conditions"]}
    out = [(n, summary["rows"][n]) for n in summary["order"]
           if summary["rows"][n].get("status") == "done" and summary["rows"][n]["params"]["condition"] in keys]
    if not out:
        raise UserError(f"{summary['_path']}: no finished row; run paper_exps/representations.py first")
    return out


def bars(summary: dict, args) -> None:
    rows = dict(study_rows(summary))
    conditions = [c for c in summary["conditions"] if any(f"{lf}_{c['key']}" in rows for lf in c["lifters"])]
    fig, axes = plt.subplots(1, len(METRICS), figsize=(6.5 * len(METRICS), 4.8))
    plotted = {"conditions": [c["key"] for c in conditions], "bars": {}}
    width = 0.38
    for ax, (metric, title) in zip(axes, METRICS):
        for i, c in enumerate(conditions):
            present = [lf for lf in c["lifters"] if f"{lf}_{c['key']}" in rows]
            for k, lifter in enumerate(present):
                r = rows[f"{lifter}_{c['key']}"]
                x = i + (k - (len(present) - 1) / 2) * width
                ax.bar(x, r[metric], width * 0.95, yerr=r.get(f"{metric}_std") or None, color=COLORS[lifter],
                       capsize=3, label=lifter if i == 0 or lifter not in ax.get_legend_handles_labels()[1] else None)
                ax.text(x, r[metric], f"{r[metric]:.0f}", ha="center", va="bottom", fontsize=7)
                plotted["bars"].setdefault(metric, {})[f"{lifter}_{c['key']}"] = r[metric]
        ax.set_xticks(range(len(conditions)))
        ax.set_xticklabels([c["label"] for c in conditions], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(f"{title} (mm, action-wise mean)")
        ax.set_title(f"{title} on the test frames")
        ax.grid(True, axis="y", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLORS[k]) for k in COLORS]
    axes[0].legend(handles, ["3D Supervised", "Ours Relative", "Estimator (no lifter)"], fontsize=8)
    fig.suptitle(_caption(summary), fontsize=9)
    fig.tight_layout()
    save(fig, args, "representations_bars", plotted)


def _caption(summary: dict) -> str:
    est, img = summary["estimator"], summary["images"]
    quick = " [--quick: numbers are meaningless]" if summary.get("quick") else ""
    return (f"{img['num_train_frames']} training / {img['num_test_frames']} test frames; estimator 2D error "
            f"{est['test_2d']['error_px']:.1f} px (test), {est['train_2d']['error_px']:.1f} px (training){quick}")


def error_vs_2d(summary: dict, args) -> None:
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    plotted = {"points": []}
    labels = []
    for name, r in study_rows(summary):
        lifter = r["params"]["lifter"]
        x = summary["estimator"]["test_2d"]["error_px"] if lifter == "estimator" else r["input2d_error_px"]
        ax.scatter([x], [r["pa_mpjpe"]], color=COLORS[lifter], marker=MARKERS[lifter], s=90 if lifter == "estimator"
                   else 45, zorder=3)
        text = next(c["label"] for c in summary["conditions"] if c["key"] == r["params"]["condition"])
        labels.append((x, r["pa_mpjpe"], text, lifter))
        plotted["points"].append({"row": name, "input2d_error_px": x, "pa_mpjpe": r["pa_mpjpe"]})
    # Rows fed the same 2D share an x: their labels are stacked at least `gap` apart, with a leader line.
    y_all = [y for _, y, _, _ in labels]
    gap = 0.045 * (max(y_all) - min(y_all) or 1.0)
    x_span = max(x for x, _, _, _ in labels) or 1.0
    last, prev_x, top = -np.inf, -np.inf, max(y_all)
    for x, y, text, lifter in sorted(labels, key=lambda p: (round(p[0]), p[1])):
        y_text = max(y, last + gap) if abs(x - prev_x) < 0.02 * x_span else y
        last, prev_x, top = y_text, x, max(top, y_text)
        ax.annotate(text, (x, y), xytext=(x + 0.03 * x_span, y_text), fontsize=6.5, color=COLORS[lifter],
                    va="center", arrowprops={"arrowstyle": "-", "color": COLORS[lifter], "lw": 0.5})
    handles = [plt.Line2D([], [], color=COLORS[k], marker=MARKERS[k], ls="") for k in COLORS]
    ax.legend(handles, ["3D Supervised", "Ours Relative", "Estimator 3D (x: its own 2D error)"], fontsize=8,
              loc="best")
    ax.set_xlim(right=1.45 * x_span)
    ax.set_ylim(top=top + 2 * gap)
    ax.set_xlabel("mean error of the test 2D the lifter saw (px, Human3.6M camera)")
    ax.set_ylabel("PA-MPJPE (mm)")
    ax.set_title("3D error against 2D input error", fontsize=10)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    save(fig, args, "representations_error_vs_2d", plotted)


def actions(summary: dict, args) -> None:
    rows = study_rows(summary)
    names = sorted(set.union(*(set(r["per_action"]) for _, r in rows)))
    table = np.array([[r["per_action"].get(a, {}).get("pa_mpjpe", np.nan) for a in names] + [r["pa_mpjpe"]]
                      for _, r in rows])
    fig, ax = plt.subplots(figsize=(1.0 + 0.62 * (len(names) + 1), 0.9 + 0.38 * len(rows)))
    im = ax.imshow(table, cmap="viridis_r", aspect="auto")
    for (i, j), v in np.ndenumerate(table):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7,
                    color="white" if v > np.nanmean(table) else "black")
    ax.set_xticks(range(len(names) + 1))
    ax.set_xticklabels(names + ["mean"], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r["label"] for _, r in rows], fontsize=8)
    fig.colorbar(im, ax=ax, label="PA-MPJPE (mm)")
    ax.set_title("Per-action PA-MPJPE (mm)", fontsize=10)
    fig.tight_layout()
    save(fig, args, "representations_actions", {"actions": names, "rows": [n for n, _ in rows],
                                                "pa_mpjpe": np.round(table, 2).tolist()})


def _pose3d(ax, pred, gt, skeleton):
    from lifting.geometry.skeletons import get_skeleton
    from lifting.metrics import procrustes_align
    from lifting.viz import draw_pose_3d, upright

    sk = get_skeleton(skeleton)
    if gt is not None:
        g = upright(gt)
        for a, b in sk.limbs:
            ax.plot(g[[a, b], 0], g[[a, b], 1], g[[a, b], 2], color="0.75", lw=2.5)
        pred = procrustes_align(pred[None], gt[None])[0]
        radius = float(np.abs(g - g[sk.root]).max()) * 1.1
    else:
        pred = pred - pred[sk.root]
        radius = None
    draw_pose_3d(ax, pred, sk, radius=radius, linewidth=1.5, markersize=1.0, label_axes=False)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_zticks([])
    ax.view_init(elev=10, azim=-75)


def _image(ax, image, joints2d, skeleton, extra=None):
    from lifting.geometry.skeletons import get_skeleton
    from lifting.viz import draw_pose_2d

    ax.imshow(image)
    if extra is not None:   # a reference pose in white under the coloured one
        for a, b in get_skeleton(skeleton).limbs:
            ax.plot(extra[[a, b], 0], extra[[a, b], 1], color="white", lw=2.2, alpha=0.85)
    draw_pose_2d(ax, joints2d, skeleton, linewidth=1.2, markersize=1.5, invert_y=False)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlim(0, image.shape[1])
    ax.set_ylim(image.shape[0], 0)
    ax.axis("off")


def gallery(summary: dict, args) -> None:
    g = load_npz(Path(args.results_dir) / EXPERIMENT / summary["files"]["gallery"],
                 ("image", "gt2d_px", "gt3d", "label", "input2d_px", "pred3d", "pa_mpjpe", "action", "camera"))
    frames, rows = len(g["image"]), len(g["label"])
    fig = plt.figure(figsize=(2 * 1.7 * frames, 1.75 * (rows + 1)))
    plotted = {"rows": g["label"].tolist(), "pa_mpjpe": np.round(g["pa_mpjpe"], 1).tolist()}
    for f in range(frames):
        ax = fig.add_subplot(rows + 1, 2 * frames, 2 * f + 1)
        _image(ax, g["image"][f], g["gt2d_px"][f], "h36m_17")
        ax.set_title(f"{g['action'][f]} cam {g['camera'][f]}: GT 2D", fontsize=7)
        ax = fig.add_subplot(rows + 1, 2 * frames, 2 * f + 2, projection="3d")
        _pose3d(ax, g["gt3d"][f], None, "h36m_17")
        ax.set_title("GT 3D", fontsize=7)
        for r in range(rows):
            k = (r + 1) * 2 * frames + 2 * f
            ax = fig.add_subplot(rows + 1, 2 * frames, k + 1)
            _image(ax, g["image"][f], g["input2d_px"][r, f], "h36m_17")
            if f == 0:
                ax.text(-0.08, 0.5, g["label"][r].replace(", ", ",\n"), transform=ax.transAxes, ha="right",
                        va="center", fontsize=7)
            ax = fig.add_subplot(rows + 1, 2 * frames, k + 2, projection="3d")
            _pose3d(ax, g["pred3d"][r, f], g["gt3d"][f], "h36m_17")
            ax.set_title(f"PA {g['pa_mpjpe'][r, f]:.0f} mm", fontsize=7)
    fig.suptitle("Same test frames in every row: the 2D the row saw (on the image) | its 3D (colour, Procrustes-"
                 "aligned) over GT 3D (grey)", fontsize=9)
    fig.subplots_adjust(left=0.14, right=0.99, top=0.96, bottom=0.01, wspace=0.05, hspace=0.25)
    save(fig, args, "representations_gallery", plotted)


def lsp(summary: dict, args) -> None:
    res = summary["lsp"]
    g = load_npz(Path(args.results_dir) / EXPERIMENT / summary["files"]["lsp_gallery"],
                 ("image", "image_index", "gt2d_px", "est2d_px", "row", "pred3d"))
    frames, rows = len(g["image"]), len(g["row"])
    if frames == 0:
        raise UserError(f"{summary['_path']}: the LSP set has no fully annotated image to draw")
    fig = plt.figure(figsize=(1.9 * frames, 1.9 * (rows + 1) + 0.4))
    for f in range(frames):
        ax = fig.add_subplot(rows + 1, frames, f + 1)
        _image(ax, g["image"][f], g["est2d_px"][f], "lsp_14", extra=g["gt2d_px"][f])
        ax.set_title(f"im{g['image_index'][f]:04d}: estimator 2D\n(white: annotation)", fontsize=7)
        for r in range(rows):
            ax = fig.add_subplot(rows + 1, frames, (r + 1) * frames + f + 1, projection="3d")
            _pose3d(ax, g["pred3d"][r, f], None, "lsp_14")
            info = res["rows"][g["row"][r]]
            acc = "" if info["pair_accuracy"] is None else f", pairs {100 * info['pair_accuracy']:.0f} %"
            ax.set_title(f"{info['label'].replace(' fed ', chr(10) + 'fed ')}{acc}", fontsize=6)
    e2d = res["estimator_2d"]
    fig.suptitle(f"LSP ({'rendered LSP-layout set' if res['rendered'] else res['images']}, {res['num_images']} images):"
                 f" estimator 2D PCK@{e2d['pck_fraction']:.1f} torso {100 * e2d['pck']:.1f} %", fontsize=8)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.92, bottom=0.01, wspace=0.05, hspace=0.35)
    save(fig, args, "representations_lsp", {"images": g["image_index"].tolist(), "rows": g["row"].tolist(),
                                            "lsp": res})


def _num(v, fmt="{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def markdown(summary: dict, args) -> Path:
    from lifting.fileio import write_text

    pck = summary["pck_px"]
    lines = [f"**Representation study** ({_caption(summary)}; errors in mm over 17 joints incl. the root, action-wise "
             "means, mean ± std over seeds)", "",
             f"| row | test 2D error (px) | test 2D PCK@{pck:g}px | MPJPE | N-MPJPE | PA-MPJPE | PA-MPJPE frame-wise |",
             "|---|---|---|---|---|---|---|"]
    for _, r in study_rows(summary):
        pm = lambda k, r=r: f"{r[k]:.1f}" + (f" ± {r[k + '_std']:.1f}" if r.get("num_seeds", 1) > 1 else "")  # noqa: E731
        est = r["params"]["lifter"] == "estimator"
        err = summary["estimator"]["test_2d"]["error_px"] if est else r.get("input2d_error_px")
        p = summary["estimator"]["test_2d"]["pck"] if est else r.get("input2d_pck")
        lines.append(f"| {r['label']} | {_num(err)}{' (own)' if est else ''} | {_num(p and 100 * p)} % | "
                     f"{pm('mpjpe')} | {pm('n_mpjpe')} | {pm('pa_mpjpe')} | {r['pa_mpjpe_framewise']:.1f} |")
    t = summary["truncated"]
    lines += ["", f"**Truncated slice** ({t['num_frames']} test frames, partial-body crops, "
              f"{100 * t['fraction_in_crop']:.0f} % of joints inside the crop; mm)", "",
              "| method | full crops MPJPE / PA | truncated, all joints MPJPE / PA | truncated, joints in crop MPJPE / PA |",
              "|---|---|---|---|"]
    for r in t["rows"].values():
        lines.append(f"| {r['label']} | {r['full_mpjpe']:.1f} / {r['full_pa_mpjpe']:.1f} | {r['mpjpe_all']:.1f} / "
                     f"{r['pa_mpjpe_all']:.1f} | {r['mpjpe_in_crop']:.1f} / {r['pa_mpjpe_in_crop']:.1f} |")
    s = summary["lsp"]
    e2d = s["estimator_2d"]
    lines += ["", f"**LSP** ({'rendered LSP-layout set' if s['rendered'] else s['images']}: {s['num_images']} images, "
              f"{s['num_complete']} fully annotated; intrinsics from a {s['fov_deg']:g}° field of view; estimator 2D "
              f"PCK@{e2d['pck_fraction']:g} torso {100 * e2d['pck']:.1f} %, mean error {e2d['error_px']:.1f} px)", "",
              f"| row | depth-order pair accuracy ({s.get('num_pairs', 0)} pairs) |", "|---|---|"]
    lines += [f"| {r['label']} | {_num(r['pair_accuracy'] and 100 * r['pair_accuracy'])} % |" for r in s["rows"].values()]
    lines += ["", "**Stage times** (s): " + ", ".join(f"{k} {v:.0f}" for k, v in summary["timing_s"].items())]
    return write_text(out_dir(args) / "representations.md", "\n".join(lines) + "\n")


def plot(argv: list[str] | None) -> int:
    args = parse(parser(__doc__.splitlines()[0], "paper_plots/representations.py"), argv)
    summary = load_summary(args.results_dir, EXPERIMENT)
    for key in ("conditions", "estimator", "images", "truncated", "lsp", "files", "timing_s"):
        if key not in summary:
            raise UserError(f"{summary['_path']}: lacks {key!r}; the study did not finish (rerun "
                            "paper_exps/representations.py)")
    bars(summary, args)
    error_vs_2d(summary, args)
    actions(summary, args)
    gallery(summary, args)
    lsp(summary, args)
    print(f"wrote {markdown(summary, args)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli(plot, argv)


if __name__ == "__main__":
    sys.exit(main())
