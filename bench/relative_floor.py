"""Benchmark: how close the relative lifter's objective lets any model come to the truth, without a network.

    python bench/relative_floor.py --data-dir ../shared/data/h36m [--subject 8] [--frames 512] [--steps 1500]

Prints, on `--frames` test frames (GT 2D, 17 joints, PA-MPJPE mm):
- the scaled-orthographic oracle: x, y from the 2D at the least-squares scale, each bone's depth from its true
  length (one length scale per frame, the best of a grid) with the true sign;
- the objective's own optimum near the truth: each frame's pose and scale optimised freely (Adam) on the relative
  objective with every joint pair labelled, starting from the true pose, for the paper's loss weights (those of
  `opts/h36_rel.yaml`) and for a variant tried for it; how far it drifts is the error a perfect learner of that
  objective would keep;
- what the weak labels alone pin down: Taylor's reconstruction from the 2D with the average limb lengths, each
  bone's depth sign from its labelled pair and the flattest feasible scale (no 3D of the frame is used), as it is
  and after the same per-frame optimisation of the objective from it; and how fast the error grows when the
  scale, and with it every bone's depth, is taken a few per cent larger than the flattest.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from lifting.cli import ArgumentParser, add_option, run_cli
from lifting.config import opt
from lifting.datasets.h36m import SUBJECTS, load_h36m
from lifting.geometry.skeletons import get_skeleton
from lifting.losses import RelativeObjective
from lifting.metrics import pa_mpjpe_errors

WEIGHTS = {"paper (rel 1, reproj 0.1, root 1, symm 1)": {"relative": 1.0, "reproj": 0.1, "root": 1.0, "symm": 1.0},
           "tried for the default (reproj 1, root 0.1)": {"relative": 1.0, "reproj": 1.0, "root": 0.1, "symm": 1.0}}


def pose_from_bones(xy: np.ndarray, lengths: np.ndarray, signs: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """xy (N, J, 2) mm root-centred, bone lengths (N, J-1) or (J-1,) mm and depth signs (N, J-1) of the bones
    (j, parent j), +1: the child farther -> poses (N, J, 3) mm; bones too short for their xy get zero depth
    (parents precede their children in the joint order)."""
    lengths = np.broadcast_to(lengths, signs.shape)
    z = np.zeros(xy.shape[:2])
    for j in range(1, len(parents)):
        dz2 = lengths[:, j - 1] ** 2 - ((xy[:, j] - xy[:, parents[j]]) ** 2).sum(-1)
        z[:, j] = z[:, parents[j]] + signs[:, j - 1] * np.sqrt(np.clip(dz2, 0, None))
    return np.concatenate([xy, z[..., None]], -1)


def orthographic_oracle(joints2d: np.ndarray, joints3d: np.ndarray, parents: np.ndarray) -> float:
    """joints2d (N, J, 2) px and joints3d (N, J, 3) mm, both root-centred -> mean PA-MPJPE mm of the best-scale
    oracle."""
    s = (joints2d * joints3d[..., :2]).sum((1, 2)) / (joints3d[..., :2] ** 2).sum((1, 2))
    xy = joints2d / s[:, None, None]
    lengths = np.linalg.norm(joints3d[:, 1:] - joints3d[:, parents[1:]], axis=-1)   # (N, J-1)
    signs = np.sign(joints3d[:, 1:, 2] - joints3d[:, parents[1:], 2])
    best = np.full(len(xy), np.inf)
    for c in np.linspace(0.9, 1.3, 41):
        best = np.minimum(best, pa_mpjpe_errors(pose_from_bones(xy, c * lengths, signs, parents), joints3d).mean(1))
    return float(best.mean())


def taylor_reconstruction(joints2d: np.ndarray, ref_lengths: np.ndarray, bone_signs: np.ndarray,
                          parents: np.ndarray, stretch: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """joints2d (N, J, 2) px root-centred, ref_lengths (J-1,) mm of the bones (j, parent j), bone_signs (N, J-1)
    in {-1, 0, 1} (+1: the child farther) -> poses (N, J, 3) mm and scales (N,) px/mm. The scale is `stretch` x
    the smallest at which every bone of the reference lengths reaches its 2D length (Taylor, 2000)."""
    bone2d = np.linalg.norm(joints2d[:, 1:] - joints2d[:, parents[1:]], axis=-1)   # (N, J-1) px
    scale = stretch * (bone2d / ref_lengths).max(1)
    return pose_from_bones(joints2d / scale[:, None, None], ref_lengths, bone_signs, parents), scale


def objective_optimum(objective: RelativeObjective, joints2d: torch.Tensor, joints3d: torch.Tensor, steps: int,
                      start: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[float, dict[str, float]]:
    """Minimise the objective over free per-frame poses (mm) and scales, every pair labelled, from `start`
    (poses (N, J, 3) mm, scales (N,)) or else from the truth."""
    n, j = joints3d.shape[:2]
    iu = torch.triu_indices(j, j, 1)
    pi, pj = iu[0].expand(n, -1), iu[1].expand(n, -1)
    labels = torch.sign(joints3d[..., 2].gather(1, pi) - joints3d[..., 2].gather(1, pj))
    if start is None:
        start = joints3d, (joints2d * joints3d[..., :2]).sum((1, 2)) / (joints3d[..., :2] ** 2).sum((1, 2))
    pose, logit = start[0].clone().requires_grad_(), torch.logit(start[1]).requires_grad_()
    opt = torch.optim.Adam([{"params": [pose], "lr": 2.0}, {"params": [logit], "lr": 0.01}])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1 - t / steps + 0.005)
    for _ in range(steps):
        loss, parts = objective(pose, torch.sigmoid(logit), pi, pj, labels, joints2d)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return float(pa_mpjpe_errors(pose.detach().numpy(), joints3d.numpy()).mean()), \
        {k: float(v) for k, v in parts.items()}


def run(argv: list[str] | None) -> int:
    p = ArgumentParser(prog="bench/relative_floor.py", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    add_option(p, "--subject", opt(int, 8, "the subject measured", choices=SUBJECTS))
    add_option(p, "--frames", opt(int, 512, "frames drawn from the subject", minimum=1, maximum=10 ** 6))
    add_option(p, "--steps", opt(int, 1500, "optimisation steps per objective", minimum=1, maximum=10 ** 6))
    p.add_argument("--cache-dir")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    sk = get_skeleton("h36m_17")
    poses = load_h36m(a.data_dir, [a.subject], stride=50, cache_dir=a.cache_dir)
    pick = np.random.default_rng(0).choice(len(poses.joints2d_px), min(a.frames, len(poses.joints2d_px)),
                                           replace=False)
    j2 = poses.joints2d_px[pick] - poses.joints2d_px[pick, sk.root:sk.root + 1]
    j3 = poses.joints3d_cam[pick] - poses.joints3d_cam[pick, sk.root:sk.root + 1]
    parents, t2, t3 = np.array(sk.parents), torch.tensor(j2), torch.tensor(j3)
    print(f"S{a.subject}, {len(pick)} frames, PA-MPJPE mm")
    print(f"  scaled-orthographic oracle (true bone lengths and depth signs): "
          f"{orthographic_oracle(j2, j3, parents):.1f}")
    limbs = np.array(sk.limbs)
    ref = np.linalg.norm(j3[:, limbs[:, 0]] - j3[:, limbs[:, 1]], axis=-1).mean(0)
    objectives = {name: RelativeObjective(sk, w, 2.5, "scaled_orthographic", ref) for name, w in WEIGHTS.items()}
    for name, objective in objectives.items():
        err, parts = objective_optimum(objective, t2, t3, a.steps)
        print(f"  objective optimum from the truth, {name}: {err:.1f} "
              f"(losses there: {', '.join(f'{k} {v:.3f}' for k, v in parts.items())})")
    bones = np.linalg.norm(j3[:, 1:] - j3[:, parents[1:]], axis=-1).mean(0)
    signs = np.sign(j3[:, 1:, 2] - j3[:, parents[1:], 2])
    for stretch in (1.0, 1.02, 1.05, 1.1):
        pose, _ = taylor_reconstruction(j2, bones, signs, parents, stretch)
        print(f"  Taylor from the 2D, average limbs, labelled bone signs, {stretch:.2f} x the flattest scale: "
              f"{pa_mpjpe_errors(pose, j3).mean():.1f}")
    start = tuple(torch.tensor(x, dtype=torch.float32) for x in taylor_reconstruction(j2, bones, signs, parents))
    for name, objective in objectives.items():
        err, _ = objective_optimum(objective, t2, t3, a.steps, start)
        print(f"  objective optimum from Taylor's flattest reconstruction, {name}: {err:.1f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
