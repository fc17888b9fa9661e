"""Table 1 of Ronchi et al. (BMVC 2018): ablation of the relative model on Human3.6M (PA-MPJPE, mm).

    python paper_exps/table_1.py --data-dir DIR [--seeds N] [--jobs N] [--device cuda] [--quick]
"""

import sys

from lifting.experiments import runner
from lifting.experiments.experiment import Experiment, Row

EXPERIMENT = Experiment("table_1", __doc__.splitlines()[0], (
    Row("row_sup", "3D Supervised", "sup"),
    Row("row_ours", "Ours", "ours"),
    Row("row_3", "Known focal length", "ours"),
    Row("row_4", "Skeleton from [41]", "ours"),
    Row("row_5", "No skeleton loss", "ours"),
    Row("row_6", "All pairs", "ours"),
    Row("row_7", "Distance tolerance", "ours"),
))


def main(argv: list[str] | None = None) -> int:
    return runner.main(EXPERIMENT, argv)


if __name__ == "__main__":
    sys.exit(main())
