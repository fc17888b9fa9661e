"""One loader for every trained model: a checkpoint records the kind of model its task trains, and a checkpoint of
another kind than a loading entry point expects is one line naming both kinds, through every public way to load."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lifting.checkpoint import KINDS, LEGACY_KEYS, load_trained, save_checkpoint
from lifting.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def _run_script(name, argv, tmp_path, monkeypatch):
    """The script's `run(argv)` in-process (what its `main` turns into an exit code and one stderr line)."""
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), ROOT / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.chdir(tmp_path)
    return module.run(argv)


def _image(tmp_path):
    from PIL import Image

    path = tmp_path / "image.png"
    Image.new("RGB", (32, 24)).save(path)
    return path


# entry point -> (the kinds it loads, how it loads a checkpoint or run dir)
ENTRY_POINTS = {
    "load_trained(expect=lifter)": ({"lifter"}, lambda p, t, m: load_trained(p, "lifter")),
    "load_trained(expect=estimator)": ({"estimator"}, lambda p, t, m: load_trained(p, "estimator")),
    "load_trained(expect=rootnet)": ({"rootnet"}, lambda p, t, m: load_trained(p, "rootnet")),
    "load_trained(expect=detector)": ({"detector"}, lambda p, t, m: load_trained(p, "detector")),
    "export.load_exportable": ({"lifter", "estimator"},
                               lambda p, t, m: __import__("lifting.export").export.load_exportable(p)),
    "export.py --ckpt": ({"lifter", "estimator"}, lambda p, t, m: _run_script(
        "export.py", ["--ckpt", str(p), "--format", "torchscript", "--out", str(t / "x.pt")], t, m)),
    "run_model.py --ckpt": ({"lifter"}, lambda p, t, m: _run_script(
        "run_model.py", [str(t / "missing.npy"), "--ckpt", str(p)], t, m)),
    "run_estimator.py --ckpt": ({"estimator"}, lambda p, t, m: _run_script(
        "run_estimator.py", [str(_image(t)), "--ckpt", str(p)], t, m)),
    "main_metro.py --predict": ({"estimator"}, lambda p, t, m: _run_script(
        "main_metro.py", ["--set", f"load={p}", "device=cpu", "--predict", str(t), "--out", str(t / "p.npz")], t, m)),
    "main_rootnet.py --predict": ({"rootnet"}, lambda p, t, m: _run_script(
        "main_rootnet.py", ["--set", f"load={p}", "device=cpu", "--predict", str(t), "--out", str(t / "p.npz")], t, m)),
}


def _checkpoint(tmp_path, kind, legacy):
    """A checkpoint of `kind` (recorded, or as an older one: told by its task state only) without weights: the kind
    is checked before a model is built."""
    task = {key: 0 for key, k in LEGACY_KEYS if k == kind} if legacy else {}
    state = {"model": {}, "extra": {"config": {}, "task": task}}
    path = tmp_path / f"{kind}{'_legacy' if legacy else ''}" / "last.pt"
    save_checkpoint(path, state if legacy else {"kind": kind, **state})
    return path


@pytest.mark.parametrize("legacy", [False, True], ids=["recorded", "legacy"])
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_a_checkpoint_of_another_kind_is_one_line_naming_both(entry, kind, legacy, tmp_path, monkeypatch):
    expected, load = ENTRY_POINTS[entry]
    if kind in expected or (legacy and kind not in dict(LEGACY_KEYS).values()):
        pytest.skip("the kind this entry point loads, or one that always recorded its kind")
    path = _checkpoint(tmp_path, kind, legacy)
    with pytest.raises(UserError) as e:
        load(path.parent, tmp_path, monkeypatch)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: this is {KINDS[kind].label} checkpoint ({KINDS[kind].script}); expected ")
    for other in expected:
        assert f"{KINDS[other].label} ({KINDS[other].script})" in message


def test_a_checkpoint_without_kind_or_telling_task_state_is_one_line(tmp_path):
    save_checkpoint(tmp_path / "old.pt", {"model": {}, "extra": {"config": {}, "task": {"arch": {}}}})
    with pytest.raises(UserError, match=r"old\.pt: a checkpoint without a recorded model kind"):
        load_trained(tmp_path / "old.pt")


def test_a_trained_lifter_loads_with_its_kind_config_and_statistics(tmp_path, tiny_h36m):
    from helpers import train_lifter

    run = train_lifter(tmp_path / "lifter", tiny_h36m, "num_stage=1")
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["kind"] == "lifter"
    trained = load_trained(run)
    assert trained.kind == "lifter" and trained.path == run / "last.pt" and not trained.model.training
    assert trained.config["linear_size"] == 32 and trained.config["num_stage"] == 1
    assert set(trained.task["stats"]) >= {"mean2d", "std2d"}
    for k, v in trained.model.state_dict().items():
        assert torch.equal(v, state["model"][k])
    del state["kind"]                      # as written before kinds were recorded: told by its task state
    save_checkpoint(tmp_path / "old.pt", state)
    assert load_trained(tmp_path / "old.pt", "lifter").kind == "lifter"


def test_importing_inference_imports_no_training_code():
    code = ("import sys, lifting.inference, lifting.inference.predict, lifting.checkpoint, lifting.models; "
            "bad = [m for m in sys.modules if m.startswith(('lifting.engine', 'lifting.tasks'))]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("task", ["lifting", "lsp", "metro", "rootnet"])
def test_a_tasks_load_of_another_kind_is_one_line_naming_both(task, tmp_path, tiny_h36m):
    """`load=` (fine-tuning, eval_only) goes through the same loader: a detector checkpoint is refused by name."""
    from importlib import import_module

    from helpers import write_fixture

    from lifting.config import load_config
    from lifting.engine import Dist
    from lifting.tasks import build_task

    path = _checkpoint(tmp_path, "detector", legacy=False)
    write_fixture(tmp_path / "rel.json", 20, 5)
    sets = {"lifting": [f"data_dir={tiny_h36m}", "train_subjects=[1]", "test_subjects=[9]", "eval_only=true"],
            "lsp": [f"rel_depth_json={tmp_path / 'rel.json'}"],
            "metro": [f"data_dir={tiny_h36m}", "synthetic_size=tiny", "train_subjects=[1]", "test_subjects=[8]",
                      "stride=50", "test_stride=50", "max_test_crops=2", "crop_size=64", "backbone=resnet18"],
            "rootnet": [f"data_dir={tiny_h36m}", "synthetic_size=tiny", "train_subjects=[1]", "test_subjects=[8]",
                        "stride=50", "test_stride=50", "max_test_crops=2", "crop_size=64", "backbone=resnet18"]}[task]
    schema = import_module(f"lifting.options.{'h36m' if task == 'lifting' else task}").SCHEMA
    cache = [] if task == "lsp" else [f"cache_dir={tmp_path / 'cache'}"]
    cfg = load_config(schema, None, [*sets, *cache, f"load={path.parent}", f"out_dir={tmp_path / 'run'}", "device=cpu"])
    with pytest.raises(UserError) as e:
        build_task(task, cfg).setup(Dist())
    assert str(e.value).startswith(f"{path}: this is a detector checkpoint (main_detector.py); expected ")
    assert "\n" not in str(e.value)
