"""Stacked lifter runs: several runs as one computation give what each run gives alone."""

import json

import numpy as np
import pytest
import torch

from lifting.checkpoint import load_trained
from lifting.config import load_config
from lifting.errors import UserError
from lifting.inference.lifter import predict
from lifting.models.linear import LinearModel, StackedLinearModel
from lifting.options.h36m import SCHEMA
from lifting.tasks import run_stacked, run_task
from lifting.tasks.stacked_lifting import StackedCheckpointer, StackedLiftingTask, stack_key

# Three runs that differ in kind, losses, reprojection, dropout and seed (Table 1 rows of a tiny network).
MEMBERS = {
    "sup": ["model=supervised", "sup_loss=mm"],
    "rel": ["model=relative", "num_pairs=all", "seed=1"],
    "rel_wp": ["model=relative", "reprojection=weak_perspective", "scale_range=0.001", "dropout=0.5", "seed=3",
               "loss_symm=0.0"],
}


def _cfg(tmp_path, data_dir, name, *extra):
    return load_config(SCHEMA, None, [
        f"data_dir={data_dir}", f"cache_dir={tmp_path / 'cache'}", f"out_dir={tmp_path / name}", "linear_size=48",
        "num_stage=1", "batch_size=32", "epochs=2", "train_subjects=[1,5]", "test_subjects=[9]", "compile=false",
        "threads=1", "tensorboard=false", "progress=false", "lr_schedule=staircase", "lr_decay_steps=20",
        "lr_decay=0.5", "log_every=5", "save_predictions=true", *extra])


def _alone_and_stacked(tmp_path, data_dir, names):
    alone = {n: run_task("lifting", _cfg(tmp_path / "alone", data_dir, n, *MEMBERS[n])) for n in names}
    cfgs = [_cfg(tmp_path / "stacked", data_dir, n, *MEMBERS[n]) for n in names]
    return alone, cfgs


def test_stacked_runs_give_the_numbers_of_each_run_alone(tmp_path, tiny_h36m):
    names = list(MEMBERS)
    alone, cfgs = _alone_and_stacked(tmp_path, tiny_h36m, names)
    out = run_stacked(cfgs, str(tmp_path / "group"))
    for name, res in zip(names, out):
        got, want = res["results"], alone[name]
        assert got["iterations"] == want["iterations"] > 10
        for metric in ("mpjpe", "n_mpjpe", "pa_mpjpe"):
            assert abs(got[metric] - want[metric]) < 0.05, (name, metric, got[metric], want[metric])
        np.testing.assert_allclose([p["pa_mpjpe"] for p in got["curve"]], [p["pa_mpjpe"] for p in want["curve"]],
                                   atol=0.05)
        # The member's run dir is a lone run's: results.json, predictions, and checkpoints load_trained reads.
        stored = json.loads((tmp_path / "stacked" / name / "results.json").read_text())
        assert stored["stacked_runs"] == 3 and stored["mpjpe"] == got["mpjpe"]
        member, lone = (load_trained(tmp_path / d / name, "lifter") for d in ("stacked", "alone"))
        model, state = member.model, member.checkpoint
        x = torch.randn(50, 2 * model.in_joints, generator=torch.Generator().manual_seed(0))
        np.testing.assert_allclose(predict(model, x, 64, "cpu"), predict(lone.model, x, 64, "cpu"), atol=1.0)
        pred = [np.load(tmp_path / d / name / "predictions.npz")["pred3d"] for d in ("stacked", "alone")]
        assert pred[0].shape == pred[1].shape and np.linalg.norm(pred[0] - pred[1], axis=-1).mean() < 0.2
        assert state["step"] == want["iterations"] and state["kind"] == "lifter"
        best = member.checkpoint["extra"]["history"]["best"]
        assert (best["epoch"], best["step"]) == (want["best"]["epoch"], want["best"]["step"])


def test_a_member_that_diverges_stops_alone(tmp_path, tiny_h36m, monkeypatch):
    names = ["sup", "rel"]
    alone, cfgs = _alone_and_stacked(tmp_path, tiny_h36m, names)
    task = StackedLiftingTask(cfgs)
    real = task.members[1].loss_of

    def poisoned(pose, scale, batch):
        loss, parts = real(pose, scale, batch)
        return (loss * float("nan") if task.step >= 6 else loss), parts

    monkeypatch.setattr(task.members[1], "loss_of", poisoned)
    from lifting.engine import RunOptions, fit

    fit(task, RunOptions.from_config({**cfgs[0], "out_dir": str(tmp_path / "group")}), {"runs": []},
        checkpointer=StackedCheckpointer)
    assert task.errors[0] is None and abs(task.results[0]["mpjpe"] - alone["sup"]["mpjpe"]) < 0.05
    assert task.results[1] is None and "diverged at step 7" in task.errors[1] and "\n" not in task.errors[1]
    assert not (tmp_path / "stacked" / "rel" / "results.json").exists()


def test_stacked_forward_and_dropout_equal_each_lone_model():
    torch.manual_seed(0)
    members = [LinearModel(16, 17, 64, 2, p, relative=rel, zero_root=root)
               for p, rel, root in ((0.5, False, 0), (0.25, True, 0), (0.0, True, 0))]
    for m in members:
        if not m.relative:
            m.set_output_stats(torch.randn(51), torch.rand(51) + 0.5)
    x = torch.randn(3, 8, 32)
    gens = [torch.Generator().manual_seed(s) for s in (5, 6, 7)]
    stacked = StackedLinearModel(members, [0.5, 0.25, 0.0], gens)
    pose, scale = stacked(x)
    for k, m in enumerate(members):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed((5, 6, 7)[k])
            want_pose, want_scale = m(x[k])
        torch.testing.assert_close(pose[k], want_pose, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(scale[k], want_scale, atol=1e-5, rtol=1e-5)
        for name, value in stacked.member_state_dict(k).items():   # BatchNorm statistics of its own batch
            torch.testing.assert_close(value, m.state_dict()[name], atol=1e-5, rtol=1e-5)


def test_which_runs_can_stack(tmp_path, tiny_h36m):
    base = _cfg(tmp_path, tiny_h36m, "a")
    assert stack_key(base) == stack_key(_cfg(tmp_path, tiny_h36m, "b", "model=relative", "seed=4", "dropout=0.1"))
    assert stack_key(base) != stack_key(_cfg(tmp_path, tiny_h36m, "c", "amt_train_data=0.5"))
    assert stack_key(base) != stack_key(_cfg(tmp_path, tiny_h36m, "d", "batch_size=16"))
    assert stack_key(_cfg(tmp_path, tiny_h36m, "e", "max_norm=1.0")) is None
    with pytest.raises(UserError, match="must share every setting"):
        StackedLiftingTask([base, _cfg(tmp_path, tiny_h36m, "f", "lr=0.01")])


def test_a_stacked_member_resumes_alone_as_its_lone_run_would(tmp_path, tiny_h36m):
    """A member's last.pt is a lone run's training state (weights, Adam moments, schedule, RNG): resumed alone for
    one more epoch it gives what the lone run trained for that many epochs gives."""
    names = ["sup", "rel"]
    alone = {n: run_task("lifting", _cfg(tmp_path / "alone", tiny_h36m, n, *MEMBERS[n], "epochs=3")) for n in names}
    cfgs = [_cfg(tmp_path / "stacked", tiny_h36m, n, *MEMBERS[n]) for n in names]
    run_stacked(cfgs, str(tmp_path / "group"))
    for name, cfg in zip(names, cfgs):
        res = run_task("lifting", {**cfg, "epochs": 3}, resume=True)
        assert res["iterations"] == alone[name]["iterations"]
        assert abs(res["mpjpe"] - alone[name]["mpjpe"]) < 0.05, (name, res["mpjpe"], alone[name]["mpjpe"])


def test_the_paper_runner_stacked_gives_the_rows_it_gives_alone(tmp_path):
    import runpy
    from pathlib import Path

    from lifting.experiments import runner

    experiment = runpy.run_path(str(Path(__file__).resolve().parents[1] / "paper_exps" / "table_1.py"))["EXPERIMENT"]
    out = {}
    for stack in ("yes", "no"):
        argv = ["--quick", "--data-dir", "synthetic", "--results-dir", str(tmp_path / stack), "--cache-dir",
                str(tmp_path / "cache"), "--rows", "row_sup,row_ours,row_6", "--stack", stack]
        out[stack] = runner.run_experiment(experiment, runner.parse_args(experiment, argv))["rows"]
    assert (tmp_path / "yes" / "table_1" / "stacked").is_dir() and not (tmp_path / "no" / "table_1" / "stacked").exists()
    for row in ("row_sup", "row_ours", "row_6"):
        assert out["yes"][row]["status"] == "done"
        assert abs(out["yes"][row]["pa_mpjpe"] - out["no"][row]["pa_mpjpe"]) < 0.05
