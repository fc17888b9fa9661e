"""Fig. 4c of Ronchi et al. (train+test noise): PA-MPJPE under the same Gaussian 2D noise in training
and test.

    python paper_exps/fig_4c_train_test_noise.py --data-dir DIR [--detections-dir DIR] [--seeds N] [--jobs N] [--quick]

Levels: variance 0, 5, 10, 15, 20 px^2 and 'dts' = SH detections for training and test (SH/SH); the 'dts' rows need
--detections-dir and are skipped without it.
"""

import sys

from lifting.experiments import runner
from lifting.experiments.experiment import Experiment, Row

LEVELS = (0, 5, 10, 15, 20, "dts")
EXPERIMENT = Experiment("fig_4c_train_test_noise", __doc__.splitlines()[0], tuple(
    Row(f"{model}_{level}", f"{name}, {'DTS' if level == 'dts' else f'σ²={level}'}", model,
        params={"series": model, "level": level})
    for model, name in (("sup", "3D Supervised"), ("ours", "Ours Relative")) for level in LEVELS))


def main(argv: list[str] | None = None) -> int:
    return runner.main(EXPERIMENT, argv)


if __name__ == "__main__":
    sys.exit(main())
