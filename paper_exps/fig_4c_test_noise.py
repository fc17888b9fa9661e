"""Fig. 4c of Ronchi et al. (test noise): PA-MPJPE under Gaussian 2D noise (variance in px^2) at test
time only; training on clean GT 2D.

    python paper_exps/fig_4c_test_noise.py --data-dir DIR [--detections-dir DIR] [--seeds N] [--jobs N] [--quick]

Levels: variance 0, 5, 10, 15, 20 px^2 and 'dts' = trained on GT, tested on SH detections (GT/SH,
16 joints); the 'dts' rows need --detections-dir and are skipped without it. The noisy levels
evaluate the level-0 model of the same seed (training is on clean 2D for all of them), so only the
effect of the test noise differs between points.
"""

import sys

from lifting.experiments import runner
from lifting.experiments.experiment import Experiment, Row

LEVELS = (0, 5, 10, 15, 20, "dts")
EXPERIMENT = Experiment("fig_4c_test_noise", __doc__.splitlines()[0], tuple(
    Row(f"{model}_{level}", f"{name}, {'DTS' if level == 'dts' else f'σ²={level}'}", model,
        load_from=f"{model}_0" if level not in (0, "dts") else None, params={"series": model, "level": level})
    for model, name in (("sup", "3D Supervised"), ("ours", "Ours Relative")) for level in LEVELS))


def main(argv: list[str] | None = None) -> int:
    return runner.main(EXPERIMENT, argv)


if __name__ == "__main__":
    sys.exit(main())
