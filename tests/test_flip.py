"""Mirror-image augmentation and flip-averaged testing of the lifters."""

import numpy as np
import pytest
import torch

from lifting.checkpoint import load_trained
from lifting.config import load_config
from lifting.datasets.normalize import Stats
from lifting.engine import Dist
from lifting.geometry.cameras import project_joints
from lifting.geometry.skeletons import flip_lr, get_skeleton, mirror
from lifting.inference.lifter import predict_flip_averaged
from lifting.options.h36m import SCHEMA
from lifting.tasks import run_task
from lifting.tasks.lifting import LiftingTask


def _pose_abs(n=5, seed=0):
    """(n, 17, 3) camera-frame mm: random joints about 4-6 m in front of the camera, off the optical axis."""
    rng = np.random.default_rng(seed)
    return rng.normal(0, 300, (n, 17, 3)) + np.array([400.0, -200.0, 5000.0])


def test_the_mirrored_pose_projects_to_the_mirrored_root_centred_2d():
    K = np.array([[1145.0, 0, 512.5], [0, 1144.0, 515.0], [0, 0, 1]])
    pose = _pose_abs()
    centred = lambda uv: uv - uv[:, :1]
    uv, uv_m = project_joints(pose, K), project_joints(mirror(pose, "h36m_17"), K)
    np.testing.assert_allclose(centred(uv_m), mirror(centred(uv), "h36m_17"), atol=1e-6)
    # The same 2D, mirrored in pixels about any vertical line (u -> W - u) and relabelled left/right.
    mirrored_px = flip_lr(np.stack([1000.0 - uv[..., 0], uv[..., 1]], -1), "h36m_17")
    np.testing.assert_allclose(centred(mirrored_px), centred(uv_m), atol=1e-6)
    sk = get_skeleton("h36m_17")
    assert sk.joint_names[sk.flip_perm[sk.index("left_hip")]] == "right_hip"
    np.testing.assert_array_equal(mirror(mirror(pose, sk), sk), pose)


def _cfg(tmp_path, data_dir, *extra):
    return load_config(SCHEMA, None, [
        f"data_dir={data_dir}", f"cache_dir={tmp_path / 'cache'}", f"out_dir={tmp_path / 'run'}", "linear_size=32",
        "num_stage=1", "batch_size=32", "epochs=1", "train_subjects=[1]", "test_subjects=[9]", "compile=false",
        "threads=1", "tensorboard=false", "progress=false", *extra])


@pytest.mark.parametrize("per_step", [1, 4])
def test_flipped_training_samples_stay_consistent_pairs(tmp_path, tiny_h36m, per_step):
    task = LiftingTask(_cfg(tmp_path, tiny_h36m, "model=relative", "num_pairs=all", "flip_augment=true"))
    task.setup(Dist())
    data, index = task.train, torch.arange(64)
    flip = torch.arange(64) % 2 == 0
    out = {"x": data.x[index], "joints3d": data.joints3d_centred[index], "joints2d": data.joints2d_centred[index]}
    out["pair_i"], out["pair_j"], out["pair_label"] = task.pairs.sample(index, torch.Generator().manual_seed(0),
                                                                        per_step)
    before = {k: v.clone() for k, v in out.items()}
    task._flip(out, data, index, flip)
    for k in out:   # samples that are not flipped are untouched
        torch.testing.assert_close(out[k][~flip], before[k][~flip])
    torch.testing.assert_close(out["joints3d"][flip], mirror(before["joints3d"][flip], "h36m_17"))
    torch.testing.assert_close(out["x"][flip], torch.from_numpy(task.stats.standardize_2d(
        mirror(before["joints2d"][flip].numpy(), "h36m_17"))))
    # A pair label says which of the pair's joints is farther in the flipped pose too.
    z = out["joints3d"][..., 2]
    rows = torch.arange(64).reshape(64, *[1] * (out["pair_i"].dim() - 1))
    gap = z[rows, out["pair_i"]] - z[rows, out["pair_j"]]
    assert torch.equal(torch.sign(gap)[flip], out["pair_label"][flip])
    moved = out["pair_i"][flip] != before["pair_i"][flip]
    assert moved.any()   # some pairs had a left or right joint, whose index changed


def test_flip_averaged_lifter_mirrors_its_output_for_a_mirrored_image(tmp_path, tiny_h36m):
    res = run_task("lifting", _cfg(tmp_path, tiny_h36m, "flip_augment=true", "flip_test=true"))
    trained = load_trained(tmp_path / "run", "lifter")
    model, stats = trained.model, Stats.from_dict(trained.task["stats"])
    K = np.array([[1145.0, 0, 512.5], [0, 1144.0, 515.0], [0, 0, 1]])
    uv = project_joints(_pose_abs(20, seed=1), K)
    uv_m = flip_lr(np.stack([1000.0 - uv[..., 0], uv[..., 1]], -1), "h36m_17")   # the mirror image, in pixels

    def lift(px):
        c = (px - px[:, :1]).astype(np.float32)
        x, xm = (torch.from_numpy(stats.standardize_2d(v)) for v in (c, mirror(c, "h36m_17")))
        return predict_flip_averaged(model, x, xm, "h36m_17", 64, "cpu")

    pred, pred_m = lift(uv), lift(uv_m)
    np.testing.assert_allclose(pred_m, mirror(pred, "h36m_17"), atol=1e-3)
    assert np.abs(pred).max() > 10 and np.isfinite(res["mpjpe"])


def test_weight_average_is_the_exponential_average_of_the_trained_weights(tmp_path, tiny_h36m):
    """Decay 0.5 over two steps, bias-corrected: the saved lifter is (w1 + 2 w2) / 3 of the weights after steps 1
    and 2 (weights 0.5 and 1 over their sum)."""
    from lifting.checkpoint import load_checkpoint

    for steps in (1, 2):
        run_task("lifting", _cfg(tmp_path / str(steps), tiny_h36m, f"iterations={steps}", "weight_average=0.5", "lr_schedule=constant",
                                 "eval_every=1000"))
    w1, w2 = (load_checkpoint(tmp_path / s / "run" / "last.pt")["model"] for s in ("1", "2"))
    averaged = load_trained(tmp_path / "2" / "run").model.state_dict()
    for name, value in averaged.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (w1[name] + 2 * w2[name]) / 3, atol=1e-6, rtol=1e-5)
    assert not torch.equal(w1["head.weight"], w2["head.weight"])
