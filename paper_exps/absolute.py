"""Absolute 3D pose: RootNet root + MeTRo pose vs MeTRAbs reconstruction, on full and truncated test crops.

    python paper_exps/absolute.py --data-dir DIR [--estimator RUN] [--rootnet RUN] [--quick]

Trains the CPU MeTRo (opts/metro_tiny.yaml) and RootNet (opts/rootnet_tiny.yaml) runs it is not given (resumable),
then evaluates every row on the test subjects of DIR and on the synthetic subjects (varied bone lengths); writes
results/absolute/summary.json, drawn by paper_plots/absolute.py.
"""

import sys

from lifting.experiments.absolute import main

if __name__ == "__main__":
    sys.exit(main())
