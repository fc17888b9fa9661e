"""The internal-consistency checks of the paper's results (Table 1, Fig. 1d, Fig. 4d), whose own numbers are
not available to compare with.

    python paper_plots/consistency.py [--results-dir results] [--out-dir results/figures] [--tolerance-mm 1.0]

Checks (PA-MPJPE in mm; "depth order" = fraction of joint pairs of the test frames in the right depth order):
1. 3D supervised beats Ours (Table 1; Fig. 1d at 100 % data);
2. all pairs (and 17 pairs) at most one pair + tolerance (Table 1 row 6; Fig. 1d at 100 % data);
3. no skeleton loss clearly worst: Table 1 row 5 above every other relative row by more than the tolerance;
4. label noise 0.5 is uninformative: Fig. 4d's depth order within 0.1 of chance (0.5);
5. label noise 1.0 flips depth: Fig. 4d's depth order below chance and within 0.1 of 1 - that of clean labels.
A check whose experiment or rows have no results is reported as not run. Writes consistency.md and consistency.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lifting.cli import add_option
from lifting.config import opt
from lifting.experiments.plots import UserError, cli, load_summary, out_dir, parse, parser, row
from lifting.fileio import write_json, write_text

RELATIVE_ROWS = ("row_ours", "row_3", "row_4", "row_6", "row_7")
CHANCE_BAND = 0.1


def _pa(summary: dict, name: str) -> float:
    return float(row(summary, name, "pa_mpjpe")["pa_mpjpe"])


def _order(summary: dict, name: str) -> float:
    return float(row(summary, name, "depth_order_accuracy")["depth_order_accuracy"])


def _no_more_than(summary: dict, many: str, one: str, tol: float) -> tuple[bool, str]:
    a, b = _pa(summary, many), _pa(summary, one)
    return a <= b + tol, f"{many} {a:.1f} vs {one} {b:.1f}"


def checks(summaries: dict[str, dict], tol: float) -> list[dict]:
    """One entry per check and source: check, source, passed (None: not run), what was compared."""
    t1, f1, f4 = (summaries.get(k) for k in ("table_1", "fig_1d", "fig_4d"))

    def sup_below(s: dict, sup: str, rel: str) -> tuple[bool, str]:
        return _pa(s, sup) < _pa(s, rel), f"{sup} {_pa(s, sup):.1f} vs {rel} {_pa(s, rel):.1f}"

    def no_skeleton_worst(s: dict) -> tuple[bool, str]:
        others = {n: _pa(s, n) for n in RELATIVE_ROWS}
        worst = max(others, key=others.get)
        return _pa(s, "row_5") > others[worst] + tol, f"row_5 {_pa(s, 'row_5'):.1f} vs worst other {worst} " \
                                                      f"{others[worst]:.1f}"

    def uninformative(s: dict) -> tuple[bool, str]:
        half = _order(s, "noise_50")
        return abs(half - 0.5) <= CHANCE_BAND, f"depth order {half:.3f} (chance 0.5)"

    def flipped(s: dict) -> tuple[bool, str]:
        clean, flip = _order(s, "noise_0"), _order(s, "noise_100")
        return (flip < 0.5 and abs(flip - (1 - clean)) <= CHANCE_BAND,
                f"depth order {flip:.3f}; clean labels {clean:.3f}, mirrored {1 - clean:.3f}")

    plan = [("3D supervised < Ours", "Table 1", "table_1", lambda: sup_below(t1, "row_sup", "row_ours")),
            ("3D supervised < Ours", "Fig. 1d", "fig_1d", lambda: sup_below(f1, "sup_100pct", "rel_1pair_100pct")),
            ("all pairs <= one pair", "Table 1", "table_1", lambda: _no_more_than(t1, "row_6", "row_ours", tol)),
            ("all pairs <= one pair", "Fig. 1d", "fig_1d",
             lambda: _no_more_than(f1, "rel_allpairs_100pct", "rel_1pair_100pct", tol)),
            ("17 pairs <= one pair", "Fig. 1d", "fig_1d",
             lambda: _no_more_than(f1, "rel_17pairs_100pct", "rel_1pair_100pct", tol)),
            ("no skeleton loss clearly worst", "Table 1", "table_1", lambda: no_skeleton_worst(t1)),
            ("label noise 0.5 uninformative", "Fig. 4d", "fig_4d", lambda: uninformative(f4)),
            ("label noise 1.0 flips depth", "Fig. 4d", "fig_4d", lambda: flipped(f4))]
    out = []
    for name, source, experiment, run in plan:
        try:
            passed, detail = run() if experiment in summaries else (None, f"not run: no {experiment} results")
        except UserError as e:   # e.g. the experiment ran with --rows and this check's rows are missing
            passed, detail = None, f"not run: {e}"
        out.append({"check": name, "source": source, "passed": passed, "detail": detail})
    return out


def plot(argv: list[str] | None) -> int:
    p = parser(__doc__.splitlines()[0], "paper_plots/consistency.py")
    add_option(p, "--tolerance-mm", opt(float, 1.0, "run-to-run allowance of the <= and 'clearly worst' checks (mm)",
                                        minimum=0, maximum=1000))
    args = parse(p, argv)
    summaries = {e: load_summary(args.results_dir, e) for e in ("table_1", "fig_1d", "fig_4d")
                 if (Path(args.results_dir) / e / "summary.json").is_file()}
    if not summaries:
        raise UserError(f"{args.results_dir}: no table_1, fig_1d or fig_4d summary.json; run those paper_exps first")
    results = checks(summaries, args.tolerance_mm)
    verdict = {True: "yes", False: "**no**", None: "not run"}
    md = [f"**Consistency checks** (PA-MPJPE mm, tolerance {args.tolerance_mm:g} mm)", "",
          "| check | source | holds | compared |", "|---|---|---|---|"]
    md += [f"| {c['check']} | {c['source']} | {verdict[c['passed']]} | {c['detail']} |" for c in results]
    out = out_dir(args)
    paths = [write_text(out / "consistency.md", "\n".join(md) + "\n"),
             write_json(out / "consistency.json", {"tolerance_mm": args.tolerance_mm, "checks": results})]
    print("\n".join(md))
    print(f"wrote {', '.join(str(x) for x in paths)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli(plot, argv)


if __name__ == "__main__":
    sys.exit(main())
