"""Representation study (issue 9): the image estimator's 2D and 3D outputs feed the lifters, on Human3.6M and LSP.

    python paper_exps/representations.py [--data-dir DIR] [--train-subjects 1,5,6,7] [--test-subjects 8]
        [--estimator RUN] [--images DIR] [--lsp-images DIR] [--lsp-json FILE] [--quick] [--jobs N]
        [--device auto/cpu/cuda] [--seeds N] [--launcher slurm ...]

Writes results/representations/ (estimator/, predictions/, one folder per lifter row, lsp/, gallery.npz,
summary.json); `python paper_plots/representations.py` draws the figures. Stages and rows:
lifting/experiments/representations/; Slurm: README, On a cluster.
"""

import sys

from lifting.experiments.representations.study import main

if __name__ == "__main__":
    sys.exit(main())
