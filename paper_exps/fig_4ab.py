"""Fig. 4a/4b of Ronchi et al.: distributions of per-frame and per-joint PA errors, Sup vs Ours.

    python paper_exps/fig_4ab.py --data-dir DIR [--seeds N] [--jobs N] [--quick]

Both runs save predictions.npz (per-joint Procrustes errors of every test frame) for the plots.
"""

import sys

from lifting.experiments import runner
from lifting.experiments.experiment import Experiment, Row

EXPERIMENT = Experiment("fig_4ab", __doc__.splitlines()[0], (
    Row("sup", "3D Supervised", "sup", params={"series": "sup"}),
    Row("ours", "Ours Relative", "ours", params={"series": "ours"}),
))


def main(argv: list[str] | None = None) -> int:
    return runner.main(EXPERIMENT, argv)


if __name__ == "__main__":
    sys.exit(main())
