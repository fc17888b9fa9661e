"""The one training loop: exact LR-scheduler resume, weight max-norm, and, for every registered task, the NaN
stop and the resume-config check."""

import json
from importlib import import_module

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from lifting.config import load_config
from lifting.engine import RunOptions, TrainPlan, fit
from lifting.engine.loop import subnormals_flushed
from lifting.engine.optim import Optimisation, apply_max_norm, optimizer_step
from lifting.errors import UserError
from lifting.tasks import TASKS, build_task

torch.set_num_threads(1)


class Regression:
    """A two-layer regression task that records the learning rate and the largest weight norm at every step."""

    kind = "regression"

    def __init__(self, crash_at=None):
        self.crash_at, self.lrs, self.norms = crash_at, [], []

    def setup(self, dist):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(64, 4, generator=g)
        self.y = self.x @ torch.randn(4, 1, generator=g) * 10
        self.model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
        with torch.no_grad():
            self.model[0].weight.mul_(10)
        first = self.model[0].weight
        self.hook = register_optimizer_step_pre_hook(   # the engine's optimiser: this model's
            lambda opt, *_: self.lrs.append(opt.param_groups[0]["lr"]) if opt.param_groups[0]["params"][0] is first
            else None)
        return TrainPlan(self.model, steps_per_epoch=8, batch_size=8, example_input=(self.x[:2],))

    def batches(self, epoch, start, generator):
        perm = torch.randperm(64, generator=torch.Generator().manual_seed(epoch))
        for b in range(start, 8):
            yield perm[b * 8:(b + 1) * 8]

    def loss(self, net, index, step):
        if step == self.crash_at:
            raise KeyboardInterrupt
        self.norms.append(max(float(torch.linalg.matrix_norm(m.weight.detach())) for m in self.model
                              if isinstance(m, torch.nn.Linear)))
        return (net(self.x[index]) - self.y[index]).pow(2).mean(), {}

    def evaluate(self, final):
        with torch.no_grad():
            return {"mpjpe": float((self.model(self.x) - self.y).abs().mean())}

    def state(self):
        return {}

    def load_state(self, state):
        pass

    def report(self, results):
        self.hook.remove()
        return {"regression": True}, "regression\n"

    def artefacts(self, out_dir):
        (out_dir / "artefact.txt").write_text("written by the task's artefacts step\n")


def _opts(tmp_path, name, compile=False, **kw):
    """40 steps (5 epochs of 8) of Adam at 0.05, cosine schedule with 5 warm-up steps."""
    optim = Optimisation(epochs=5, lr=0.05, lr_schedule="cosine", warmup_steps=5, compile=compile)
    return RunOptions(out_dir=str(tmp_path / name), device="cpu", tensorboard=False, progress=False, optim=optim,
                      resume_free_keys=frozenset({"out_dir"}), **kw)


def test_scheduler_resumes_exactly_mid_epoch(tmp_path):
    straight = Regression()
    fit(straight, _opts(tmp_path, "a"), {"run": "a"})
    crashed = Regression(crash_at=21)
    with pytest.raises(KeyboardInterrupt):
        fit(crashed, _opts(tmp_path, "b", checkpoint_every=5), {"run": "a"})
    resumed = Regression()
    fit(resumed, _opts(tmp_path, "b", checkpoint_every=5), {"run": "a"}, resume=True)
    assert len(straight.lrs) == 40 and resumed.lrs == straight.lrs[20:]      # steps 20..39 after the step-20 save
    assert crashed.lrs == straight.lrs[:21]
    assert len(set(straight.lrs)) > 30                                        # the schedule really moves
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    b = json.loads((tmp_path / "b" / "results.json").read_text())
    assert a["mpjpe"] == b["mpjpe"] and b["iterations"] == 40


class NoLen(torch.nn.Module):
    """Forwards to a module and, like torch.compile's wrapper, refuses len() (so truth tests on it raise)."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)

    def __len__(self):
        raise TypeError("no len()")


def test_the_loss_runs_through_the_compiled_model(tmp_path, monkeypatch):
    wrappers = []
    monkeypatch.setattr(torch, "compile", lambda model: wrappers.append(NoLen(model)) or wrappers[-1])
    fit(Regression(), _opts(tmp_path, "c", compile=True), {})
    assert len(wrappers) == 1 and wrappers[0].calls == 1 + 40   # the probe, then every training step


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_clip_folded_into_fused_adam_equals_clipping_the_gradients(weight_decay):
    """The fused path scales the gradients inside Adam; the plain path clips them first: same steps."""
    torch.manual_seed(0)
    nets = [torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    opts = [torch.optim.Adam(n.parameters(), lr=1e-2, weight_decay=weight_decay, fused=fused)
            for n, fused in zip(nets, (True, False))]
    norms = []
    for _ in range(30):
        x, y = torch.randn(16, 6), 50 * torch.randn(16, 3)   # large targets: the norm exceeds the clip
        for net, opt in zip(nets, opts):
            optimizer_step(net, opt, ((net(x) - y) ** 2).mean(), grad_clip=1.0)
        norms.append(float(opts[0].grad_scale))
    assert min(norms) > 10   # the clip acted at every step
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    before = [p.detach().clone() for p in nets[0].parameters()]
    optimizer_step(nets[0], opts[0], 0 * nets[0](x).sum(), grad_clip=1.0)   # zero gradient: no clip to apply
    assert float(opts[0].grad_scale) == 1.0 and any(not torch.equal(a, b) for a, b in zip(before, nets[0].parameters()))


def test_max_norm_bounds_every_weight_matrix_after_every_step(tmp_path):
    free = Regression()
    fit(free, _opts(tmp_path, "free"), {})
    bounded = Regression()
    fit(bounded, _opts(tmp_path, "bounded", max_norm=1.0), {})
    assert max(free.norms[1:]) > 5                       # without the constraint the norms stay large
    assert bounded.norms[0] > 5 and max(bounded.norms[1:]) <= 1.0 + 1e-6   # step 0 sees the initial weights
    layer = torch.nn.Linear(3, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[3.0, 0, 0], [0, 4.0, 0]]))      # Frobenius norm 5
    apply_max_norm(layer, 2.5)
    assert torch.allclose(layer.weight, torch.tensor([[1.5, 0, 0], [0, 2.0, 0]]))


def test_resume_config_check_refuses_a_changed_key(tmp_path):
    fit(Regression(), _opts(tmp_path, "r"), {"lr": 0.05, "epochs": 5})
    with pytest.raises(UserError, match=r"config differs .* in lr"):
        fit(Regression(), _opts(tmp_path, "r"), {"lr": 0.1, "epochs": 5}, resume=True)


class RecordsFlushing(Regression):
    def loss(self, net, index, step):
        self.flushed = subnormals_flushed()
        return super().loss(net, index, step)


def test_training_flushes_subnormal_floats_and_restores_the_setting(tmp_path):
    """Decayed Adam moments of dead units are subnormal, and CPUs are 10-100x slower on those; the caller's
    setting comes back after training (hypothesis, for one, refuses to run with subnormals flushed)."""
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush subnormal floats")
    assert not subnormals_flushed()
    task = RecordsFlushing()
    fit(task, _opts(tmp_path, "r"), {"lr": 0.05})
    assert task.flushed and not subnormals_flushed()


def test_a_copied_run_folder_resumes_in_its_new_place(tmp_path):
    """A finished run copied elsewhere without its results.json is evaluated again there, not retrained."""
    import shutil

    first = fit(Regression(), _opts(tmp_path, "r"), {"lr": 0.05, "out_dir": str(tmp_path / "r")})
    shutil.copytree(tmp_path / "r", tmp_path / "moved", ignore=shutil.ignore_patterns("results.json", ".lock"))
    task = Regression()
    again = fit(task, _opts(tmp_path, "moved"), {"lr": 0.05, "out_dir": str(tmp_path / "moved")}, resume=True)
    assert task.lrs == [] and again["iterations"] == 40 and again["mpjpe"] == first["mpjpe"]
    assert json.loads((tmp_path / "moved" / "results.json").read_text())["mpjpe"] == first["mpjpe"]


# ---------------------------------------------------------------- every registered task, tiny configs

@pytest.fixture(scope="module")
def lsp_json(tmp_path_factory):
    from helpers import write_fixture

    path = tmp_path_factory.mktemp("lsp") / "rel.json"
    write_fixture(path, 40, 10)
    return path


def _task_config(name, tmp_path, data_dir, lsp_json, *extra):
    common = ["tensorboard=false", "progress=false", "device=cpu", "threads=1", f"out_dir={tmp_path / name}",
              "log_every=2"]
    if name == "lifting":
        from lifting.options.h36m import SCHEMA
        sets = [f"data_dir={data_dir}", f"cache_dir={tmp_path / 'cache'}", "linear_size=32", "num_stage=1",
                "batch_size=64", "epochs=1", "train_subjects=[1]", "test_subjects=[9]", "compile=false"]
    elif name == "detector":
        from lifting.options.detector import SCHEMA
        sets = [f"data_dir={data_dir}", "image_width=96", "image_height=64", "iterations=4", "warmup_steps=1",
                "batch_size=2", "scenes_per_epoch=4", "test_scenes=2", "eval_batch_size=2", "stride=1",
                "test_stride=1"]
    elif name == "lsp":
        from lifting.options.lsp import SCHEMA
        sets = [f"rel_depth_json={lsp_json}", "linear_size=32", "epochs=1", "batch_size=16"]
    else:  # the image tasks: crops rendered online from the tiny synthetic poses
        SCHEMA = import_module(f"lifting.options.{name}").SCHEMA
        sets = [f"data_dir={data_dir}", f"cache_dir={tmp_path / 'cache'}", "backbone=resnet18", "crop_size=64",
                "batch_size=2", "eval_batch_size=4", "iterations=4", "max_test_crops=4", "train_subjects=[1]",
                "test_subjects=[8]", "stride=50", "test_stride=50", "synthetic_size=tiny",
                "amp=false", "channels_last=false"] + (["abs_start=1", "weak_steps=1"] if name == "metro" else [])
    return load_config(SCHEMA, None, [*sets, *common, *extra])


@pytest.mark.parametrize("name", sorted(TASKS))
def test_nan_loss_stops_every_task_with_a_one_line_error_naming_the_step(name, tmp_path, tiny_h36m, lsp_json,
                                                                         monkeypatch):
    cfg = _task_config(name, tmp_path, tiny_h36m, lsp_json)
    task = build_task(name, cfg)
    real_loss = task.loss

    def poisoned(net, batch, step):
        loss, parts = real_loss(net, batch, step)
        return loss * float("nan") if step >= 2 else loss, parts

    monkeypatch.setattr(task, "loss", poisoned)
    with pytest.raises(UserError) as e:
        fit(task, RunOptions.from_config(cfg), cfg)
    assert "\n" not in str(e.value) and "diverged at step 4" in str(e.value)   # detected at the log_every=2 check
    assert not (tmp_path / name / "results.json").exists()


@pytest.mark.parametrize("name", sorted(TASKS))
def test_resume_config_check_refuses_a_changed_key_for_every_task(name, tmp_path, tiny_h36m, lsp_json):
    from lifting.tasks import run_task

    run_task(name, _task_config(name, tmp_path, tiny_h36m, lsp_json))
    with pytest.raises(UserError, match=r"config differs from the run in out_dir in lr"):
        run_task(name, _task_config(name, tmp_path, tiny_h36m, lsp_json, "lr=0.123"), resume=True)


def test_the_engine_writes_the_tasks_report_artefacts_and_history_through_the_checkpointer(tmp_path):
    from lifting.engine.history import History

    res = fit(Regression(), _opts(tmp_path, "r"), {})
    run = tmp_path / "r"
    assert res["regression"] is True and json.loads((run / "results.json").read_text())["regression"] is True
    assert (run / "results.md").read_text() == "regression\n" and (run / "artefact.txt").is_file()
    stored = torch.load(run / "last.pt", weights_only=True)
    assert stored["kind"] == "regression" and (stored["step"], stored["epoch"]) == (40, 5)
    history = History.from_dict(stored["extra"]["history"])
    assert history.curve == res["curve"] and [p["epoch"] for p in history.curve] == [1, 2, 3, 4, 5]
    assert history.samples == 40 * 8 and history.best == res["best"]


def test_a_replaced_checkpointer_is_the_only_writer(tmp_path):
    from lifting.engine import Checkpointer

    calls = []

    class Recording(Checkpointer):
        def save_last(self):
            calls.append(("last", self.training.step))

        def maybe_save_best(self, metrics):
            calls.append(("best", self.training.step))

        def finish(self, results):
            calls.append(("finish", results["iterations"]))
            return results

    fit(Regression(), _opts(tmp_path, "r"), {}, checkpointer=Recording)
    assert calls == [c for s in (8, 16, 24, 32, 40) for c in (("best", s), ("last", s))] + [("finish", 40)]
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [".lock", "config.yaml"]


def test_the_engine_builds_length_optimiser_and_schedule_from_the_config():
    model = torch.nn.Linear(3, 2)
    plan = TrainPlan(model, steps_per_epoch=10, batch_size=4)
    assert Optimisation(epochs=3).total_steps(plan) == 30
    assert Optimisation(epochs=3, iterations=7).total_steps(plan) == 7
    assert Optimisation(epochs=3).total_steps(TrainPlan(model, 10, 4, train=False)) == 0
    assert Optimisation(epochs=3).total_steps(TrainPlan(model, 10, 4, start_step=100)) == 130   # fine-tuning
    # MeTRo's AdamW: decoupled decay per step wd * (eta_t / eta0) / sqrt(T), torch multiplying it by the lr
    adamw, _ = Optimisation(lr=1e-4, weight_decay=3e-3).optimizer(TrainPlan(model, 10, 4, optimizer="adamw"), 400)
    assert isinstance(adamw, torch.optim.AdamW)
    assert adamw.param_groups[0]["weight_decay"] == pytest.approx(3e-3 / (20 * 1e-4))
    # RootNet: one staircase decay after lr_drop_fraction of the run, whatever lr_decay_steps says
    optim = Optimisation(lr=1e-3, lr_schedule="staircase", lr_decay=0.1, lr_decay_steps=5, lr_drop_fraction=0.85)
    opt, schedule = optim.optimizer(plan, 20)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert lrs[:17] == [pytest.approx(1e-3)] * 17 and lrs[17:] == [pytest.approx(1e-4)] * 3
    # a fine-tuned run continues the loaded run's schedule position from the configured base lr
    opt, _ = Optimisation(lr=1e-3, lr_schedule="staircase", lr_decay=0.5, lr_decay_steps=10).optimizer(
        TrainPlan(model, 10, 4, start_step=25), 45)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.25)
