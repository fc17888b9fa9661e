"""Fig. 1d of Ronchi et al.: 3D error vs amount of supervision (fractions of data, pairs per sample).

    python paper_exps/fig_1d.py --data-dir DIR [--seeds N] [--jobs N] [--quick]
"""

import sys

from lifting.experiments import runner
from lifting.experiments.experiment import Experiment, Row


def _sup(pct: str, amt: float) -> Row:
    return Row(f"sup_{pct}pct", f"{pct}% data", "sup", params={"series": "sup", "amt_train_data": amt})


def _rel(pairs, pct: int) -> Row:
    name = {1: "1pair", 17: "17pairs", "all": "allpairs"}[pairs]
    label = f"{pairs} pair{'s' if pairs != 1 else ''}, {pct}% data"
    return Row(f"rel_{name}_{pct}pct", label, "ours",
               params={"series": "ours", "amt_train_data": pct / 100, "num_pairs": pairs})


EXPERIMENT = Experiment("fig_1d", __doc__.splitlines()[0], (
    _sup("0.0625", 0.000625), _sup("0.125", 0.00125), _sup("0.25", 0.0025), _sup("5", 0.05), _sup("25", 0.25),
    _sup("100", 1.0),
    _rel(1, 25), _rel(1, 50), _rel(1, 100), _rel(17, 100), _rel("all", 100),
))


def main(argv: list[str] | None = None) -> int:
    return runner.main(EXPERIMENT, argv)


if __name__ == "__main__":
    sys.exit(main())
