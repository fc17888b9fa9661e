"""End-to-end runs of main_human36.py on tiny synthetic data: results, resume after SIGKILL, eval-only."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lifting.config import load_config
from lifting.options.h36m import SCHEMA
from lifting.tasks import run_task

ROOT = Path(__file__).resolve().parents[1]
TINY = ["linear_size=128", "num_stage=1", "dropout=0.1", "batch_size=64", "tensorboard=false", "progress=false",
        "train_subjects=[1,5,6]", "test_subjects=[9]", "threads=1", "warmup_steps=0", "compile=false"]


def tiny_cfg(tmp_path, data_dir, *extra):
    return load_config(SCHEMA, None, [f"data_dir={data_dir}", f"cache_dir={tmp_path / 'cache'}",
                                      f"out_dir={tmp_path / 'run'}", *TINY, *extra])


def test_supervised_run_writes_results(tmp_path, tiny_h36m):
    res = run_task('lifting', tiny_cfg(tmp_path, tiny_h36m, "epochs=5", "save_predictions=true"))
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    for key in ("mpjpe", "n_mpjpe", "pa_mpjpe", "per_action", "num_test_frames", "train_seconds",
                "train_samples_per_s", "config"):
        assert key in saved
    assert saved["mpjpe"] == pytest.approx(res["mpjpe"])
    assert res["pa_mpjpe"] <= res["n_mpjpe"] <= res["mpjpe"] + 1e-6
    assert (tmp_path / "run" / "results.md").read_text().startswith("# supervised lifter")
    pred = np.load(tmp_path / "run" / "predictions.npz")
    assert pred["pred3d"].shape == (res["num_test_frames"], 17, 3)
    assert pred["pa_errors"].mean() == pytest.approx(res["pa_mpjpe_framewise"], rel=1e-4)
    mean_pose_error = np.linalg.norm(pred["gt3d"] - pred["gt3d"].mean(0), axis=-1).mean()
    assert res["mpjpe_framewise"] < 0.8 * mean_pose_error     # it learned more than the average pose
    for name in ("last.pt", "best.pt", "config.yaml"):
        assert (tmp_path / "run" / name).is_file()


def test_relative_run_learns_depth_order(tmp_path, tiny_h36m):
    untrained = run_task('lifting', tiny_cfg(tmp_path, tiny_h36m, "model=relative", "num_pairs=all", "epochs=0"))
    res = run_task('lifting', tiny_cfg(tmp_path, tiny_h36m, "model=relative", "num_pairs=all", "epochs=8", "lr=0.002"))
    assert np.isfinite(res["pa_mpjpe"]) and res["pa_mpjpe"] < 0.85 * untrained["pa_mpjpe"]


def test_eval_only_reproduces_metrics(tmp_path, tiny_h36m):
    run_task('lifting', tiny_cfg(tmp_path, tiny_h36m, "epochs=1"))
    again = run_task('lifting', tiny_cfg(tmp_path, tiny_h36m, "eval_only=true", f"load={tmp_path / 'run'}",
                         f"out_dir={tmp_path / 'eval'}"))
    trained = json.loads((tmp_path / "run" / "results.json").read_text())
    assert again["mpjpe"] == pytest.approx(trained["mpjpe"], rel=1e-6)
    assert again["pa_mpjpe"] == pytest.approx(trained["pa_mpjpe"], rel=1e-6)


def _cli(tmp_path, data_dir, out, *extra):
    return [sys.executable, "main_human36.py", "--set", f"data_dir={data_dir}", f"cache_dir={tmp_path / 'cache'}",
            f"out_dir={out}", *TINY, "epochs=6", "seed=3", *extra]


@pytest.mark.slow
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path, tiny_h36m):
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    full = subprocess.run(_cli(tmp_path, tiny_h36m, tmp_path / "full"), cwd=ROOT, env=env, capture_output=True, text=True)
    assert full.returncode == 0, full.stderr
    out = tmp_path / "killed"
    proc = subprocess.Popen(_cli(tmp_path, tiny_h36m, out), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "last.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "results.json").exists(), "run finished before it could be killed; make it longer"
    resumed = subprocess.run(_cli(tmp_path, tiny_h36m, out, "--resume"), cwd=ROOT, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((tmp_path / "full" / "results.json").read_text())
    b = json.loads((out / "results.json").read_text())
    for key in ("mpjpe", "n_mpjpe", "pa_mpjpe", "per_action"):
        assert a[key] == b[key]


def test_resume_mid_epoch_matches_uninterrupted_run(tmp_path, tiny_h36m, monkeypatch):
    """A checkpoint written inside an epoch resumes on the same permutation and the same pair draws."""
    from lifting.engine import RunOptions, fit
    from lifting.tasks.lifting import LiftingTask

    extra = ("model=relative", "num_pairs=all", "epochs=2", "checkpoint_every=3", f"out_dir={tmp_path / 'a'}")
    full = run_task("lifting", tiny_cfg(tmp_path, tiny_h36m, *extra))
    cfg = tiny_cfg(tmp_path, tiny_h36m, *extra[:-1], f"out_dir={tmp_path / 'b'}")
    task = LiftingTask(cfg)
    real = task.loss

    def crash(net, batch, step):
        if step == 22:                     # epoch 2 starts at step 16 (16 steps per epoch); last save at step 21
            raise KeyboardInterrupt
        return real(net, batch, step)

    monkeypatch.setattr(task, "loss", crash)
    with pytest.raises(KeyboardInterrupt):
        fit(task, RunOptions.from_config(cfg), cfg)
    resumed = run_task("lifting", cfg, resume=True)
    assert full["iterations"] == resumed["iterations"] == 32
    for key in ("mpjpe", "n_mpjpe", "pa_mpjpe"):
        assert resumed[key] == full[key]


def test_standard_protocol_defaults_train_s1_5_6_7_8_and_test_s9_s11(tmp_path, tiny_h36m):
    """opts/h36.yaml with only data_dir/out_dir set uses the standard split when S9/S11 exist."""
    from lifting.datasets.h36m import load_h36m

    cfg = load_config(SCHEMA, ROOT / "opts" / "h36.yaml",
                      [f"data_dir={tiny_h36m}", f"out_dir={tmp_path / 'std'}", f"cache_dir={tmp_path / 'cache'}",
                       "epochs=1", "linear_size=32", "num_stage=1", "compile=false", "tensorboard=false"])
    assert cfg["train_subjects"] == [1, 5, 6, 7, 8] and cfg["test_subjects"] == [9, 11]
    res = run_task('lifting', cfg)
    test = load_h36m(tiny_h36m, [9, 11], cache_dir=tmp_path / "cache2")
    train = load_h36m(tiny_h36m, [1, 5, 6, 7, 8], cache_dir=tmp_path / "cache2")
    assert res["num_test_frames"] == len(test) and res["num_train_samples"] == len(train)
    assert sorted(set(test.subject.tolist())) == [9, 11]


def _set_up(tmp_path, data_dir, *extra):
    from lifting.engine import Dist
    from lifting.tasks.lifting import LiftingTask

    task = LiftingTask(tiny_cfg(tmp_path, data_dir, "train_subjects=[1]", *extra))
    task.setup(Dist())
    return task


def test_inputs_without_detector_keys_are_the_clean_standardised_2d(tmp_path, tiny_h36m):
    """New keys off: the training inputs are exactly the root-centred GT 2D standardised with their statistics."""
    import torch

    from lifting.datasets.normalize import Stats

    task = _set_up(tmp_path, tiny_h36m)
    j2d = task.train.poses.joints2d_px
    centred = (j2d - j2d[:, :1]).astype(np.float32)
    stats = Stats.compute(centred, task.train.joints3d_centred.numpy())
    assert torch.equal(task.train.x, torch.from_numpy(stats.standardize_2d(centred)))
    first = next(task.batches(0, 0, torch.Generator().manual_seed(0)))
    again = next(task.batches(1, 0, torch.Generator().manual_seed(0)))
    assert torch.equal(first["x"], again["x"])                  # the same inputs every epoch


def test_detector_like_training_inputs_redrawn_per_epoch_test_inputs_clean(tmp_path, tiny_h36m):
    import torch

    keys = ("train_noise_type=normal_random_sigma", "train_noise_amount=15", "train_missing_joints=2",
            "train_coco17_p=0.3", "train_redraw=true")
    plain, task = _set_up(tmp_path, tiny_h36m), _set_up(tmp_path, tiny_h36m, *keys)
    assert torch.equal(task.test.joints2d_centred, plain.test.joints2d_centred)
    assert 2 < task.train_input2d_error < 15                    # mean px moved: noise and filled joints
    epoch = {e: next(task.batches(e, 0, torch.Generator().manual_seed(0)))["x"] for e in (0, 1)}
    assert not torch.equal(epoch[0], epoch[1])
    other = _set_up(tmp_path, tiny_h36m, *keys)
    assert torch.equal(next(other.batches(1, 0, torch.Generator().manual_seed(0)))["x"], epoch[1])   # resumable
    # train_clean_p: that share of the poses keeps its exact 2D (all of them at 1, about half at 0.5), but for the
    # COCO-17 share's synthesised joints
    assert _set_up(tmp_path, tiny_h36m, *keys, "train_clean_p=1", "train_coco17_p=0").train_input2d_error == 0.0
    coco_only = _set_up(tmp_path, tiny_h36m, *keys, "train_clean_p=1").train_input2d_error
    half = _set_up(tmp_path, tiny_h36m, *keys, "train_clean_p=0.5").train_input2d_error
    assert 0 < coco_only < 0.2 * task.train_input2d_error
    assert 0.3 * task.train_input2d_error < half < 0.7 * task.train_input2d_error


@pytest.mark.parametrize("extra, needle", [
    (("skeleton=h36m_16", "train_missing_joints=2"), "train_missing_joints: 2 needs skeleton: h36m_17"),
    (("skeleton=lsp_14", "train_coco17_p=0.5"), "train_coco17_p: 0.5 needs skeleton: h36m_17"),
    (("train_redraw=true",), "train_redraw: true needs a random training corruption"),
    (("train_missing_joints=10",), "train_missing_joints"),
])
def test_detector_like_keys_checked_at_load(tmp_path, extra, needle):
    from lifting.errors import UserError

    with pytest.raises(UserError, match=needle):
        load_config(SCHEMA, None, [f"out_dir={tmp_path}", *extra])
