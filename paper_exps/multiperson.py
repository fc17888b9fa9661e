"""Multi-person absolute 3D pose: true or detector boxes, roots from RootNet, MeTRAbs or the k prior, on scenes of
several people rendered from the test subjects' poses.

    python paper_exps/multiperson.py --data-dir DIR [--estimator RUN] [--rootnet RUN] [--detector RUN] [--quick]

Trains the CPU MeTRo (opts/metro_tiny.yaml), RootNet (opts/rootnet_tiny.yaml) and detector (opts/detector_tiny.yaml)
runs it is not given (resumable; --jobs N trains them in parallel), then evaluates every row through detect_poses
on the same test scenes; writes results/multiperson/summary.json and gallery.npz, drawn by
paper_plots/multiperson.py.
"""

import sys

from lifting.experiments.multiperson import main

if __name__ == "__main__":
    sys.exit(main())
