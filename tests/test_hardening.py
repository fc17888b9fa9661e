"""Outputs checked before any work, one writer per run directory, and damaged runs that fail without damage."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lifting.config import load_config
from lifting.engine.run_dir import prepare_run
from lifting.errors import UserError
from lifting.fileio import check_output_dir, check_output_file

ROOT = Path(__file__).resolve().parents[1]


def one_line(error) -> str:
    text = str(error)
    assert text and "\n" not in text
    return text


# ---------------------------------------------------------------- output checks

def test_check_output_dir(tmp_path):
    (tmp_path / "file").write_text("x")
    assert check_output_dir(tmp_path / "new" / "deeper", "out_dir") == tmp_path / "new" / "deeper"
    assert check_output_dir(tmp_path, "out_dir") == tmp_path
    cases = [(tmp_path / "file", "out_dir {}: exists and is not a directory"),
             (tmp_path / "file" / "run", f"out_dir {{}}: {tmp_path / 'file'} exists and is not a directory"),
             (Path("/dev/null"), "out_dir {}: exists and is not a directory")]
    if Path("/proc/self").is_dir():  # not writable even by root
        cases.append((Path("/proc/lifting-run"), "out_dir {}: directory not writable (/proc, where it would be created)"))
    for path, message in cases:
        with pytest.raises(UserError) as e:
            check_output_dir(path, "out_dir")
        assert one_line(e.value).startswith(message.format(path)), e.value
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing created


def test_check_output_file(tmp_path):
    (tmp_path / "file").write_text("x")
    assert check_output_file(tmp_path / "file", "--out") == tmp_path / "file"        # replaced atomically
    assert check_output_file(tmp_path / "a" / "p.npz", "--out") == tmp_path / "a" / "p.npz"
    for path, message in [(tmp_path, "is a directory, expected a file name"),
                          (f"{tmp_path / 'new'}/", "is a directory, expected a file name"),
                          ("/dev/null", "exists and is not a regular file"),
                          (tmp_path / "file" / "p.npz", f"folder {tmp_path / 'file'}: exists and is not a directory")]:
        with pytest.raises(UserError) as e:
            check_output_file(path, "--out")
        assert one_line(e.value).startswith(f"--out {path}") and message in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def _reached(*args, **kwargs):
    raise AssertionError("data was loaded or a model built before the outputs were checked")


def _run_main(capsys, module: str, argv: list[str]):
    """<module>.main(argv) in-process, as `python <module>.py argv` would run; returns (exit code, stderr)."""
    import importlib

    return importlib.import_module(module).main([str(a) for a in argv]), capsys.readouterr().err


@pytest.fixture
def blocker(tmp_path):
    """A plain file: no directory can exist at or under it."""
    path = tmp_path / "blocker"
    path.write_text("not a folder")
    return path


@pytest.mark.parametrize("case", ["h36m_out_dir", "h36m_cache_dir", "lsp_out_dir", "metro_out_dir", "metro_cache_dir",
                                  "metro_predict_out", "render_out", "render_cache", "paper_results"])
def test_unwritable_output_is_found_before_any_work(case, blocker, tmp_path, monkeypatch, capsys):
    import lifting.datasets.h36m
    import lifting.inference.predict
    import lifting.synth.poses
    import lifting.tasks.lifting
    import lifting.tasks.lsp
    import lifting.tasks.metro

    for module, name in [(lifting.tasks.lifting, "load_split"), (lifting.tasks.lifting, "build_lifter"),
                         (lifting.tasks.lsp, "load_relative_depth_json"), (lifting.tasks.metro, "online_source"),
                         (lifting.tasks.metro, "build_model"), (lifting.inference.predict, "load_trained"),
                         (lifting.datasets.h36m, "load_h36m"), (lifting.synth.poses, "pose_data_dir")]:
        monkeypatch.setattr(module, name, _reached)
    bad = blocker / "sub"
    module, argv, named = {
        "h36m_out_dir": ("main_human36", ["--set", f"out_dir={bad}", f"cache_dir={tmp_path}"], f"out_dir {bad}"),
        "h36m_cache_dir": ("main_human36", ["--set", f"out_dir={tmp_path / 'o'}", f"cache_dir={blocker}"],
                           f"cache_dir {blocker}"),
        "lsp_out_dir": ("main_lsp", ["--set", f"out_dir={bad}"], f"out_dir {bad}"),
        "metro_out_dir": ("main_metro", ["--set", f"out_dir={bad}", f"cache_dir={tmp_path}"], f"out_dir {bad}"),
        "metro_cache_dir": ("main_metro", ["--set", f"cache_dir={bad}"], f"cache_dir {bad}"),
        "metro_predict_out": ("main_metro", ["--set", "load=run", "--predict", tmp_path, "--out", tmp_path],
                              f"--out {tmp_path}: "),
        "render_out": ("render_dataset", ["--data-dir", "synthetic", "--out", blocker, "--cache-dir", tmp_path],
                       f"--out {blocker}"),
        "render_cache": ("render_dataset", ["--data-dir", "synthetic", "--out", tmp_path / "o", "--cache-dir", bad],
                         f"--cache-dir {bad}"),
        "paper_results": ("paper", ["--quick", "--results-dir", blocker], f"--results-dir {blocker / 'table_1'}"),
    }[case]
    if module == "paper":
        from lifting.experiments import runner
        from lifting.experiments.experiment import Experiment, Row

        for name in ("run_logged", "run_stacked_logged"):
            monkeypatch.setattr(runner, name, _reached)
        code = runner.main(Experiment("table_1", "t", (Row("row_sup", "Sup", "sup"),)), [str(a) for a in argv])
        err = capsys.readouterr().err
    else:
        code, err = _run_main(capsys, module, argv)
    assert code == 2
    assert err.startswith(f"error: {named}") and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]  # nothing written


# ---------------------------------------------------------------- one writer per run directory

HOLDER = textwrap.dedent("""
    import sys, time
    from lifting.engine.run_dir import prepare_run
    from lifting.errors import UserError
    try:
        prepare_run(sys.argv[1], {"who": sys.argv[2]})
    except UserError as e:
        print(f"refused: {e}", flush=True)
        sys.exit(2)
    print("locked", flush=True)
    if sys.argv[2] == "holder":
        time.sleep(600)
""")


def _child(out_dir, role):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", HOLDER, str(out_dir), role], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_second_writer_is_refused_and_the_lock_dies_with_a_killed_holder(tmp_path):
    run = tmp_path / "run"
    holder = _child(run, "holder")
    try:
        assert holder.stdout.readline().strip() == "locked"
        second = _child(run, "second")
        out, err = second.communicate(timeout=60)
        assert second.returncode == 2 and err == ""
        assert out.strip() == (f"refused: {run}: process {holder.pid} is already writing this run directory "
                               f"(lock {run / '.lock'}); wait for it to finish or use another out_dir")
        assert (run / "config.yaml").read_text() == "who: holder\n"
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=60)
    assert holder.returncode == -signal.SIGKILL
    third = _child(run, "third")          # the kernel released the dead holder's lock: the .lock file is no obstacle
    out, err = third.communicate(timeout=60)
    assert (third.returncode, out.strip(), err) == (0, "locked", "")
    assert (run / "config.yaml").read_text() == "who: third\n"


def test_lock_is_held_for_the_run_and_released_after_it(tmp_path):
    first = prepare_run(tmp_path / "run", {"a": 1})
    with pytest.raises(UserError, match=f"process {os.getpid()} is already writing this run directory"):
        prepare_run(tmp_path / "run", {"a": 2})
    assert (tmp_path / "run" / "config.yaml").read_text() == "a: 1\n"
    first.release()
    prepare_run(tmp_path / "run", {"a": 3}).release()
    assert (tmp_path / "run" / "config.yaml").read_text() == "a: 3\n"


# ---------------------------------------------------------------- damaged runs

def tiny_config(tiny_h36m, tmp_path, *extra):
    from lifting.options.h36m import SCHEMA

    return load_config(SCHEMA, None, [f"data_dir={tiny_h36m}", f"cache_dir={tmp_path / 'cache'}",
                                      f"out_dir={tmp_path / 'run'}", "epochs=2", "linear_size=16", "num_stage=1",
                                      "compile=false", "tensorboard=false", "progress=false", "threads=1",
                                      "train_subjects=[1]", "test_subjects=[9]", *extra])


@pytest.fixture
def finished_run(tiny_h36m, tmp_path):
    from lifting.tasks import run_task

    res = run_task("lifting", tiny_config(tiny_h36m, tmp_path))
    assert res["epochs_run"] == 2 and res["best"]["epoch"] >= 1
    return tmp_path / "run"


def snapshot(folder: Path) -> dict:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize("damage, message", [
    ("truncate", "not a readable checkpoint"),
    ("garbage", "not a readable checkpoint"),
    ("foreign", "not a training state of this suite (lacks optimizer, scheduler, rng, step, epoch, config, task, "
                "history)"),
])
def test_resume_from_a_damaged_last_pt_fails_in_one_line_and_touches_nothing(damage, message, finished_run, tiny_h36m,
                                                                              tmp_path):
    import torch

    from lifting.tasks import run_task

    last = finished_run / "last.pt"
    if damage == "truncate":
        last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    elif damage == "garbage":
        last.write_bytes(np.random.default_rng(0).bytes(4096))
    else:
        torch.save({"model": {}}, last)
    before = snapshot(finished_run)
    with pytest.raises(UserError) as e:
        run_task("lifting", tiny_config(tiny_h36m, tmp_path, "epochs=4"), resume=True)
    text = one_line(e.value)
    assert text.startswith(f"--resume: {last}: {message}")
    assert text.endswith("copy best.pt over it to continue from the best evaluation, or start a new run in another "
                         "out_dir")
    assert snapshot(finished_run) == before  # best.pt, config.yaml, results untouched, nothing added


def test_resume_with_another_config_touches_nothing(finished_run, tiny_h36m, tmp_path):
    from lifting.tasks import run_task

    before = snapshot(finished_run)
    with pytest.raises(UserError, match="config differs from the run in out_dir in lr"):
        run_task("lifting", tiny_config(tiny_h36m, tmp_path, "lr=0.01"), resume=True)
    assert snapshot(finished_run) == before


def test_resume_keeps_the_best_so_far(finished_run, tiny_h36m, tmp_path):
    """The history restored from last.pt holds the best evaluation, so best.pt is only replaced by a better one."""
    import json

    from lifting.checkpoint import load_checkpoint
    from lifting.tasks import run_task

    best_before = json.loads((finished_run / "results.json").read_text())["best"]
    res = run_task("lifting", tiny_config(tiny_h36m, tmp_path, "epochs=3"), resume=True)
    assert res["epochs_run"] == 3 and [p["epoch"] for p in res["curve"]] == [1, 2, 3]
    assert res["best"]["mpjpe"] <= best_before["mpjpe"]
    stored = load_checkpoint(finished_run / "best.pt")["extra"]["history"]["best"]
    assert stored == res["best"]


def test_damaged_resume_through_the_entry_point(finished_run, tiny_h36m, tmp_path):
    last = finished_run / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    before = snapshot(finished_run)
    cfg = tiny_config(tiny_h36m, tmp_path)
    sets = [f"{k}={cfg[k]}" for k in ("data_dir", "cache_dir", "out_dir")] + [
        "epochs=2", "linear_size=16", "num_stage=1", "compile=false", "tensorboard=false", "threads=1",
        "train_subjects=[1]", "test_subjects=[9]"]
    proc = subprocess.run([sys.executable, str(ROOT / "main_human36.py"), "--set", *sets, "--resume"], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"error: --resume: {last}: not a readable checkpoint") and proc.stderr.count("\n") == 1
    assert snapshot(finished_run) == before


def test_bad_predictions_file_leaves_no_run_dir(tiny_h36m, tmp_path):
    from lifting.tasks import run_task

    bad = tmp_path / "pred.npz"
    np.savez(bad, joints2d_px=np.full((3, 17, 2), np.nan))
    with pytest.raises(UserError, match=f"{bad}: missing key 'subject'"):
        run_task("lifting", tiny_config(tiny_h36m, tmp_path, f"predictions_2d={bad}"))
    assert not (tmp_path / "run").exists()


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    import os
    import stat

    from lifting.fileio import write_text

    mask = os.umask(0o022)
    try:
        path = write_text(tmp_path / "r.json", "{}")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644            # not mkstemp's private 0600
