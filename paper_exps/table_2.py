"""Table 2 of Ronchi et al.: per-action PA-MPJPE (mm), GT vs stacked-hourglass 2D inputs, label noise.

    python paper_exps/table_2.py --data-dir DIR --detections-dir DIR [--seeds N] [--jobs N] [--quick]

The 16-joint rows (SH/SH) need stacked-hourglass detections; without --detections-dir they are skipped.
"""

import sys

from lifting.experiments import runner
from lifting.experiments.experiment import Experiment, Row

EXPERIMENT = Experiment("table_2", __doc__.splitlines()[0], (
    Row("sup_17_gt_gt", "3D Supervised (17, GT/GT)", "sup", params={"joints": 17, "inputs": "GT/GT", "noise": False}),
    Row("our_17_gt_gt", "Ours (17, GT/GT)", "ours", params={"joints": 17, "inputs": "GT/GT", "noise": False}),
    Row("our_17_gt_gt_n", "Ours + annotator noise (17, GT/GT)", "ours",
        params={"joints": 17, "inputs": "GT/GT", "noise": True}),
    Row("sup_16_sh_sh", "3D Supervised (16, SH/SH)", "sup", params={"joints": 16, "inputs": "SH/SH", "noise": False}),
    Row("our_16_sh_sh", "Ours (16, SH/SH)", "ours", params={"joints": 16, "inputs": "SH/SH", "noise": False}),
    Row("our_16_sh_sh_n", "Ours + annotator noise (16, SH/SH)", "ours",
        params={"joints": 16, "inputs": "SH/SH", "noise": True}),
))


def main(argv: list[str] | None = None) -> int:
    return runner.main(EXPERIMENT, argv)


if __name__ == "__main__":
    sys.exit(main())
