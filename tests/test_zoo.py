"""The model zoo: a tiny lifter trained here is packed (float16 where its results move by < 0.1 mm) into a zoo of
its own, loads back by name through every entry point, and a damaged, missing or unknown model is one line; every
model of the real manifest is checked against its file, the size limits and its recorded float16 change."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import run_script, train_lifter

from lifting import zoo
from lifting.checkpoint import load_trained
from lifting.errors import UserError
from lifting.inference.lifter import predict

torch.set_num_threads(1)
REAL_MANIFEST = json.loads((zoo.ZOO_DIR / "manifest.json").read_text())


def _results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


@pytest.fixture(scope="module")
def packed(tmp_path_factory, tiny_h36m):
    """(zoo dir, the trained run, both packs' evaluations): the run packed as h36m_lifter, h36m_lifter_detected (a
    second copy) and `labelled` (with the rendered-data label)."""
    tmp = tmp_path_factory.mktemp("zoo")
    run_dir = train_lifter(tmp / "run", tiny_h36m, "epochs=2", "linear_size=64")
    evaluations = {p: _results(train_lifter(tmp / p, tiny_h36m, "eval_only=true",
                                            f"load={zoo.write_packed(run_dir, tmp / f'{p}.pt', 'lifter', p)}"))
                   for p in ("float32", "float16")}
    with pytest.MonkeyPatch.context() as m:
        m.setattr(zoo, "ZOO_DIR", tmp / "checkpoint")
        for name, label in (("h36m_lifter", None), ("h36m_lifter_detected", None), ("labelled", zoo.RENDERED_LABEL)):
            zoo.pack(run_dir, name, kind="lifter", evaluations=evaluations,
                     metrics=zoo.headline("lifter", evaluations["float16"]), metrics_on="synthetic S9",
                     trained_on="synthetic S1, S5", config="opts/quickstart.yaml", command="python main_human36.py",
                     label=label)
    return tmp / "checkpoint", run_dir, evaluations


@pytest.fixture()
def zoo_dir(packed, tmp_path, monkeypatch):
    """A copy of the packed zoo that a test may damage, as the zoo."""
    copy = shutil.copytree(packed[0], tmp_path / "checkpoint")
    monkeypatch.setattr(zoo, "ZOO_DIR", copy)
    return copy


def test_pack_keeps_what_loading_needs_in_float16_and_loads_back_as_float32(packed, zoo_dir):
    _, run_dir, evaluations = packed
    entry = zoo.card("h36m_lifter")
    path = zoo_dir / "h36m_lifter.pt"
    state = torch.load(path, weights_only=True)
    assert set(state) == {"kind", "precision", "model", "extra"} and set(state["extra"]) == {"config", "task"}
    assert set(state["extra"]["task"]) == {"stats", "lifter_config"}         # no data order, no optimiser, no history
    assert entry["precision"] == state["precision"] == "float16"
    assert {v.dtype for v in state["model"].values() if v.is_floating_point()} == {torch.float16}
    assert entry["size_bytes"] == path.stat().st_size < (run_dir / "last.pt").stat().st_size / 2
    assert entry["sha256"] == zoo.sha256(path) and entry["precision_check"]["change"] < 0.1
    assert entry["precision_check"]["change"] == pytest.approx(abs(evaluations["float16"]["mpjpe"]
                                                                   - evaluations["float32"]["mpjpe"]), abs=1e-9)

    original, pretrained = load_trained(run_dir, "lifter").model, zoo.load_pretrained("h36m_lifter").model
    assert {p.dtype for p in pretrained.parameters()} == {torch.float32}
    x = torch.randn(256, 2 * original.in_joints, generator=torch.Generator().manual_seed(0))
    before, after = predict(original, x, 256, "cpu"), predict(pretrained, x, 256, "cpu")
    change_mm, size_mm = np.linalg.norm(after - before, axis=-1), np.linalg.norm(before, axis=-1)
    assert 0 < change_mm.mean() < 1e-3 * size_mm.mean()     # rounded to float16 (11 significant bits), no worse


def test_pack_refuses_too_big_a_file_or_another_kind_and_writes_nothing(packed, zoo_dir, monkeypatch):
    run_dir, evaluations = packed[1:]
    before = {p.name: p.read_bytes() for p in zoo_dir.iterdir()}
    card = {"metrics": {}, "metrics_on": "", "trained_on": "", "config": "", "command": "", "label": None}
    with monkeypatch.context() as m:
        m.setattr(zoo, "MAX_FILE_BYTES", 1000)
        with pytest.raises(UserError, match=r"packed in float16 it takes 0.1 MiB; a zoo file may take at most 0.0 MiB"):
            zoo.pack(run_dir, "big", kind="lifter", evaluations=evaluations, **card)
    with pytest.raises(UserError, match="this is a lifter checkpoint .*; expected a detector"):
        zoo.pack(run_dir, "det", kind="detector", evaluations={p: {"ap50": 0.5, "ap": 0.2} for p in evaluations},
                 **card)
    assert {p.name: p.read_bytes() for p in zoo_dir.iterdir()} == before


def test_set_load_name_evaluates_the_zoo_model(packed, zoo_dir, tmp_path, tiny_h36m):
    res = _results(train_lifter(tmp_path / "eval", tiny_h36m, "load=h36m_lifter", "eval_only=true"))
    assert res["mpjpe"] == pytest.approx(packed[2]["float16"]["mpjpe"], abs=1e-6)


@pytest.mark.parametrize("name, damage, needle", [
    ("h36m_lifter", lambda d: (d / "h36m_lifter.pt").write_bytes((d / "h36m_lifter.pt").read_bytes()[:-1] + b"x"),
     "the manifest records"),
    ("h36m_lifter", lambda d: (d / "h36m_lifter.pt").unlink(), "h36m_lifter.pt is missing"),
    ("h36m_lifterx", lambda d: None, "not a model of the zoo (manifest.json lists h36m_lifter, h36m_lifter_detected, "
     "labelled)"),
])
def test_damaged_missing_or_unknown_models_are_one_line(zoo_dir, tmp_path, name, damage, needle):
    damage(zoo_dir)
    with pytest.raises(UserError) as e:
        zoo.load_pretrained(name)
    assert needle in str(e.value) and "\n" not in str(e.value)
    np.save(tmp_path / "pose.npy", np.zeros((1, 17, 2)))
    code, _, err = run_script("run_model.py", tmp_path, "pose.npy", "--model", name)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and needle in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint", "pose.npy"]


def test_unknown_name_where_a_run_directory_goes_lists_the_zoo(zoo_dir):
    with pytest.raises(UserError, match="nor a model of the zoo \\(known: h36m_lifter, h36m_lifter_detected"):
        load_trained("h36m_lifter_v2", "lifter")


def test_a_zoo_model_of_another_kind_is_one_line_naming_both(zoo_dir):
    with pytest.raises(UserError, match="h36m_lifter.pt: this is a lifter checkpoint .*; expected a detector"):
        load_trained("h36m_lifter", "detector")


def test_labelled_model_warns_and_lists_its_numbers(zoo_dir, tmp_path, caplog):
    import lifting

    assert lifting.load_pretrained("labelled").kind == "lifter"
    assert zoo.RENDERED_LABEL in caplog.text
    code, out, _ = run_script("run_model.py", tmp_path, "--list-models")
    lines = out.splitlines()
    assert code == 0 and [line.split()[0] for line in lines] == ["h36m_lifter", "h36m_lifter_detected", "labelled"]
    mpjpe = zoo.card("h36m_lifter")["metrics"]["mpjpe"]
    assert f"mpjpe {mpjpe:.1f} mm" in lines[0] and "float16" in lines[0] and "synthetic S9" in lines[0]
    assert lines[2].endswith(zoo.RENDERED_LABEL) and zoo.RENDERED_LABEL not in lines[0]


def test_default_model_is_h36m_lifter_for_npy_and_the_detected_one_for_json(zoo_dir, tmp_path, tiny_h36m):
    from lifting.datasets.h36m import load_h36m

    np.save(tmp_path / "pose.npy", load_h36m(tiny_h36m, [9], cameras=(1,)).joints2d_px[:1])
    (tmp_path / "pose.json").write_text("[]")
    (zoo_dir / "h36m_lifter_detected.pt").unlink()       # so that the JSON run names the model it picked
    code, _, err = run_script("run_model.py", tmp_path, "pose.npy", "--save-3d", "out.npz")
    assert code == 0, err
    meta = json.loads(str(np.load(tmp_path / "out.npz")["metadata"]))
    assert meta["content"].endswith("by the lifter h36m_lifter")
    code, _, err = run_script("run_model.py", tmp_path, "pose.json")
    assert code == 2 and "zoo model h36m_lifter_detected: its file" in err, err


@pytest.mark.parametrize("name", sorted(REAL_MANIFEST))
def test_real_zoo_entry(name):
    entry = REAL_MANIFEST[name]
    path = zoo.ZOO_DIR / entry["file"]
    assert path.is_file() and zoo.sha256(path) == entry["sha256"] and path.stat().st_size == entry["size_bytes"]
    assert entry["size_bytes"] <= zoo.MAX_FILE_BYTES
    check = entry["precision_check"]
    assert check["change"] == pytest.approx(max(abs(check["float16"][k] - check["float32"][k])
                                                for k in zoo.HEADLINE[entry["kind"]]))
    assert (check["change"] < zoo.TOLERANCE[entry["kind"]]) == (entry["precision"] == "float16")
    assert entry["label"] == (zoo.RENDERED_LABEL if name.startswith("rendered_") else None)


def test_real_zoo_total_size():
    assert sum(e["size_bytes"] for e in REAL_MANIFEST.values()) <= zoo.MAX_TOTAL_BYTES
