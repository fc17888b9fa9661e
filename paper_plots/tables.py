"""Tables 1 and 2 as Markdown and LaTeX from results/table_1 and results/table_2 (PA-MPJPE, mm).

    python paper_plots/tables.py [--table 1|2|all] [--results-dir results] [--out-dir results/figures]

Table 1: one row per ablation with PA-MPJPE (headline, mean +- std over seeds), MPJPE and N-MPJPE.
Table 2: per-action PA-MPJPE and the action-wise average. 'all' writes every table whose results exist.
"""

import sys
from pathlib import Path

from lifting.experiments.plots import UserError, cli, done_rows, load_summary, out_dir, parse, parser, row
from lifting.fileio import write_json, write_text


def _pm(r: dict, key: str) -> str:
    std = r.get(f"{key}_std", 0.0)
    return f"{r[key]:.1f}" + (f" ± {std:.1f}" if r.get("num_seeds", 1) > 1 else "")


def _tex(cell: str) -> str:
    return cell.replace("±", r"$\pm$").replace("%", r"\%").replace("_", r"\_").replace("&", r"\&")


def render(header: list[str], rows: list[list[str]], caption: str) -> tuple[str, str]:
    md = [f"**{caption}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    tex = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule",
           " & ".join(_tex(h) for h in header) + r" \\", r"\midrule"]
    tex += [" & ".join(_tex(c) for c in r) + r" \\" for r in rows]
    tex += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{_tex(caption)}}}", r"\end{table}"]
    return "\n".join(md) + "\n", "\n".join(tex) + "\n"


def table_1(summary: dict) -> tuple[list[str], list[list[str]], str]:
    names = done_rows(summary)
    if not names:
        raise UserError(f"{summary['_path']}: no finished rows")
    header = ["Method", "PA-MPJPE (mm)", "MPJPE (mm)", "N-MPJPE (mm)"]
    rows = []
    for n in names:
        r = row(summary, n, "pa_mpjpe", "mpjpe", "n_mpjpe")
        rows.append([r["label"], _pm(r, "pa_mpjpe"), _pm(r, "mpjpe"), _pm(r, "n_mpjpe")])
    return header, rows, "Table 1: ablation on Human3.6M (errors in mm, action-wise means)"


def table_2(summary: dict) -> tuple[list[str], list[list[str]], str]:
    names = done_rows(summary)
    if not names:
        raise UserError(f"{summary['_path']}: no finished rows")
    actions = sorted(set.union(*(set(row(summary, n, "per_action")["per_action"]) for n in names)))
    header = ["Method"] + actions + ["Avg"]
    rows = []
    for n in names:
        r = summary["rows"][n]
        cells = [f"{r['per_action'][a]['pa_mpjpe']:.1f}" if a in r["per_action"] else "-" for a in actions]
        rows.append([r["label"]] + cells + [_pm(r, "pa_mpjpe")])
    return header, rows, "Table 2: per-action PA-MPJPE (mm) on Human3.6M"


def plot(argv: list[str] | None) -> int:
    p = parser(__doc__.splitlines()[0], "paper_plots/tables.py")
    p.add_argument("--table", choices=("1", "2", "all"), default="all")
    args = parse(p, argv)
    wanted = ("1", "2") if args.table == "all" else (args.table,)
    written = 0
    for t in wanted:
        exp = f"table_{t}"
        if args.table == "all" and not (Path(args.results_dir) / exp / "summary.json").is_file():
            continue
        header, rows, caption = (table_1 if t == "1" else table_2)(load_summary(args.results_dir, exp))
        md, tex = render(header, rows, caption)
        out = out_dir(args)
        paths = [write_text(out / f"{exp}.md", md), write_text(out / f"{exp}.tex", tex),
                 write_json(out / f"{exp}.json", {"header": header, "rows": rows, "caption": caption})]
        print(md)
        print(f"wrote {', '.join(str(x) for x in paths)}")
        written += 1
    if not written:
        raise UserError(f"{args.results_dir}: no table_1/summary.json or table_2/summary.json; "
                        "run paper_exps/table_1.py or table_2.py first")
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli(plot, argv)


if __name__ == "__main__":
    sys.exit(main())
