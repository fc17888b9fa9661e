"""Fig. 4d of Ronchi et al.: robustness of the relative model to corrupted relative-depth labels.

    python paper_exps/fig_4d.py --data-dir DIR [--seeds N] [--jobs N] [--quick]

Fractions of flipped labels 0, 25 %, simulated annotator noise ('mturk'), 50 %, 75 %, 100 %.
"""

import sys

from lifting.experiments import runner
from lifting.experiments.experiment import Experiment, Row

EXPERIMENT = Experiment("fig_4d", __doc__.splitlines()[0], tuple(
    Row(f"noise_{key}", label, "ours", params={"rel_labels_noise_prob": value})
    for key, label, value in (("0", "0%", 0.0), ("25", "25%", 0.25), ("mturk", "ANN NOISE", "mturk"),
                              ("50", "50%", 0.5), ("75", "75%", 0.75), ("100", "100%", 1.0))))


def main(argv: list[str] | None = None) -> int:
    return runner.main(EXPERIMENT, argv)


if __name__ == "__main__":
    sys.exit(main())
