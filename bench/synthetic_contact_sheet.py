"""Draw a grid of random synthetic poses (world frame, z up, floor at z = 0) to check plausibility by eye.

    python bench/synthetic_contact_sheet.py --out synthetic_sheet.png [--num 24] [--seed 0]

Each panel is one random (subject, action, recording, frame) of the built-in synthetic data, drawn
upright with the floor square under it and seen from the person's side-front, so bent-backwards
knees, arms through the torso or floating feet are easy to spot.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from lifting.cli import ArgumentParser, add_option, run_cli
from lifting.config import opt
from lifting.datasets.h36m import ACTIONS
from lifting.errors import UserError
from lifting.synth.poses import SIZES, SUBJECTS, synthetic_subject
from lifting.viz import draw_pose_3d


def run(argv: list[str] | None) -> int:
    parser = ArgumentParser(prog="bench/synthetic_contact_sheet.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="PNG file to write")
    add_option(parser, "--num", opt(int, 24, "number of poses", minimum=1, maximum=1000))
    add_option(parser, "--seed", opt(int, 0, "synthetic data seed", minimum=0, maximum=2 ** 32 - 1))
    add_option(parser, "--pick-seed", opt(int, 1, "seed of the random choice of frames", minimum=0,
                                          maximum=2 ** 32 - 1))
    parser.add_argument("--actions", nargs="+", default=list(ACTIONS), help="draw only these actions")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.actions) - set(ACTIONS))
    if unknown:
        raise UserError(f"--actions: unknown {', '.join(unknown)}; expected names from {', '.join(ACTIONS)}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lifting.fileio import atomic_write

    rng = np.random.default_rng(args.pick_seed)
    subjects = rng.choice(SUBJECTS, size=args.num)
    start = time.perf_counter()
    data = {s: synthetic_subject(int(s), SIZES["default"], args.seed) for s in np.unique(subjects)}
    seconds = time.perf_counter() - start
    cols = min(6, args.num)
    rows = -(-args.num // cols)
    fig = plt.figure(figsize=(3.2 * cols, 3.6 * rows))
    for i, s in enumerate(subjects):
        seqs = data[s]
        keys = [k for k in seqs if k[0] in args.actions]
        key = keys[rng.integers(len(keys))]
        frame = int(rng.integers(len(seqs[key])))
        world = seqs[key][frame].astype(np.float64)
        # Rotate about z so the person faces 30 degrees off the viewing direction.
        hips = world[6] - world[1]
        heading = np.arctan2(hips[1], hips[0]) - np.pi / 2
        c, si = np.cos(-heading), np.sin(-heading)
        rot = np.array([[c, -si, 0], [si, c, 0], [0, 0, 1]])
        world = (world - [world[0, 0], world[0, 1], 0]) @ rot.T
        ax = fig.add_subplot(rows, cols, i + 1, projection="3d")
        # draw_pose_3d draws camera-frame joints as (x, z, -y); this camera frame shows the world upright.
        draw_pose_3d(ax, np.stack([world[:, 0], -world[:, 2], world[:, 1]], -1), "h36m_32", label_axes=False)
        floor = np.array([[-600, -600], [600, -600], [600, 600], [-600, 600], [-600, -600]])
        ax.plot(floor[:, 0], floor[:, 1], np.zeros(5), color="0.6", linewidth=1)
        ax.set_xlim(-900, 900)
        ax.set_ylim(-900, 900)
        ax.set_zlim(0, 1800)
        ax.view_init(elev=8, azim=-60)
        ax.set_xticklabels([])
        ax.set_yticklabels([])
        ax.set_zticklabels([])
        ax.set_title(f"S{s} {key[0]}{' 1' if key[1] else ''} f{frame}", fontsize=8)
    fig.tight_layout()
    out = Path(args.out)
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    frames = sum(len(v) for seqs in data.values() for v in seqs.values())
    print(f"generated {len(data)} synthetic subjects ({frames} frames) in {seconds:.2f} s")
    print(f"wrote {out} ({args.num} poses)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
