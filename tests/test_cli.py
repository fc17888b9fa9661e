"""Bad input to the lifting entry points: one line on stderr, exit code 2, no traceback, nothing written."""

import contextlib
import io
import pickle
import re
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lifting.cli import run_cli
from lifting.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)


def main_of(script: str, *args):
    """<script>'s main(argv) in-process: (returncode, stderr) as `cli` gives them, without a new interpreter."""
    main = runpy.run_path(str(ROOT / script), run_name="in_process")["main"]
    err = io.StringIO()
    threads = torch.get_num_threads()
    try:
        with contextlib.redirect_stderr(err):
            code = main([str(a) for a in args])
    finally:
        torch.set_num_threads(threads)
    return SimpleNamespace(returncode=code, stderr=err.getvalue())


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


class _Unreadable(torch.utils.data.Dataset):
    def __len__(self):
        return 1

    def __getitem__(self, i):
        raise UserError("images/x.jpg: not a readable image (truncated file)")


def test_error_from_a_dataloader_worker_stays_one_line(capsys):
    def main(argv):
        next(iter(torch.utils.data.DataLoader(_Unreadable(), num_workers=1)))

    assert run_cli(main) == 2
    assert capsys.readouterr().err == "error: images/x.jpg: not a readable image (truncated file)\n"
    assert str(UserError("a: b")) == "a: b"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_h36m):
    out = tmp_path_factory.mktemp("run")
    proc = main_of("main_human36.py", "--set", f"data_dir={tiny_h36m}", f"cache_dir={out / 'cache'}", f"out_dir={out}",
               "epochs=1", "linear_size=32", "num_stage=1", "tensorboard=false", "compile=false", "train_subjects=[1]",
               "test_subjects=[9]")
    assert proc.returncode == 0, proc.stderr
    return out


def write_npy(tmp_path, name, arr, allow_pickle=False):
    p = tmp_path / name
    np.save(p, arr, allow_pickle=allow_pickle)
    return p


@pytest.mark.slow
def test_run_model_good_input_writes_outputs(tmp_path, trained):
    x = np.random.default_rng(0).uniform(300, 700, size=(3, 17, 2))
    src = write_npy(tmp_path, "pose.npy", x)
    proc = cli("run_model.py", src, "--ckpt", trained, "--out", tmp_path / "fig.png", "--save-3d", tmp_path / "p3.npy")
    assert proc.returncode == 0, proc.stderr
    out = np.load(tmp_path / "p3.npy")
    assert out.shape == (3, 17, 3) and np.isfinite(out).all()
    assert (tmp_path / "fig.png").stat().st_size > 1000
    for variant in (x[0], x.reshape(3, 34)):     # (17, 2) and (N, 34) give the same poses
        again = main_of("run_model.py", write_npy(tmp_path, "v.npy", variant), "--ckpt", trained, "--out", tmp_path / "f.png",
                    "--save-3d", tmp_path / "v3.npy")
        assert again.returncode == 0
        # Batch sizes 1 and 3 take different float32 GEMM paths: agree to float32 precision of the magnitude.
        got = np.load(tmp_path / "v3.npy")
        np.testing.assert_allclose(got, out[:len(got)], rtol=1e-5, atol=1e-5 * np.abs(out).max())


RUN_MODEL_CASES = [
    ("wrong_shape", np.zeros((5, 16, 2)), "shape (5, 16, 2) not understood"),
    ("wrong_width", np.zeros((5, 33)), "shape (5, 33) not understood"),
    ("nan", np.full((17, 2), np.nan), "NaN or infinite"),
    ("inf", np.full((2, 34), np.inf), "NaN or infinite"),
    ("strings", np.array([["a"] * 2] * 17), "expected a numeric array"),
    ("empty", np.zeros((0, 17, 2)), "contains no poses"),
]


@pytest.mark.parametrize("name, arr, message", RUN_MODEL_CASES, ids=[c[0] for c in RUN_MODEL_CASES])
def test_run_model_bad_arrays(tmp_path, trained, name, arr, message):
    proc = main_of("run_model.py", write_npy(tmp_path, f"{name}.npy", arr), "--ckpt", trained, "--save-3d", tmp_path / "o.npy")
    assert_one_line_error(proc, message)
    assert not (tmp_path / "o.npy").exists()


def test_run_model_pickled_missing_corrupt_and_bad_ckpt(tmp_path, trained):
    obj = np.empty(2, dtype=object)
    obj[0], obj[1] = {"a": 1}, [1, 2]
    assert_one_line_error(main_of("run_model.py", write_npy(tmp_path, "p.npy", obj, allow_pickle=True), "--ckpt", trained),
                          "Object arrays cannot be loaded")
    assert_one_line_error(main_of("run_model.py", tmp_path / "absent.npy", "--ckpt", trained), "file not found")
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    assert_one_line_error(main_of("run_model.py", tmp_path / "junk.npy", "--ckpt", trained), "not a readable .npy")
    good = write_npy(tmp_path, "g.npy", np.zeros((17, 2)))
    assert_one_line_error(main_of("run_model.py", good, "--ckpt", tmp_path / "nockpt"), "checkpoint not found")
    (tmp_path / "bad.pt").write_bytes(pickle.dumps({"x": 1})[:5])
    assert_one_line_error(main_of("run_model.py", good, "--ckpt", tmp_path / "bad.pt"), "not a readable checkpoint")


def test_main_human36_bad_configs(tmp_path, tiny_h36m):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("epochs: 3\nepoks: 4\n")
    assert_one_line_error(main_of("main_human36.py", "--opt", bad_yaml), "unknown key 'epoks'", "valid keys:")
    assert_one_line_error(main_of("main_human36.py", "--set", "epochs=many"), "key 'epochs' must be int")
    assert_one_line_error(main_of("main_human36.py", "--set", "model=magic"), "must be one of")
    assert_one_line_error(main_of("main_human36.py", "--opt", tmp_path / "none.yaml"), "config file not found")
    assert_one_line_error(main_of("main_human36.py", "--set", f"data_dir={tmp_path / 'nodata'}", f"out_dir={tmp_path / 'o'}"),
                          "is not a directory")
    assert_one_line_error(main_of("main_human36.py", "--set", f"data_dir={tiny_h36m}", "test_subjects=[4]",
                              f"cache_dir={tmp_path / 'c'}", f"out_dir={tmp_path / 'o'}"), "got 4 in [4]")
    assert_one_line_error(main_of("main_human36.py", "--set", f"out_dir={tmp_path / 'fresh'}", "--resume"), "nothing to resume")
    assert_one_line_error(main_of("main_human36.py", "--bogus"), "unrecognized arguments")
    assert_one_line_error(main_of("main_human36.py", "--set", f"data_dir={tiny_h36m}", "train_subjects=[1,9]",
                              "test_subjects=[9]", f"out_dir={tmp_path / 'leak'}"), "share S9", "test_data_dir")
    assert not (tmp_path / "leak").exists()


def test_main_human36_empty_and_corrupt_data_files(tmp_path, tiny_h36m):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_h36m, data)
    victim = sorted((data / "S1" / "MyPoses" / "3D_positions").glob("*.h5"))[0]
    victim.write_bytes(b"")
    proc = main_of("main_human36.py", "--set", f"data_dir={data}", f"cache_dir={tmp_path / 'c'}", f"out_dir={tmp_path / 'o'}",
               "train_subjects=[1]", "test_subjects=[9]")
    assert_one_line_error(proc, victim.name)
    (data / "cameras.h5").write_bytes(b"\x89HDF garbage")
    proc = main_of("main_human36.py", "--set", f"data_dir={data}", f"cache_dir={tmp_path / 'c'}", f"out_dir={tmp_path / 'o'}",
               "train_subjects=[5]", "test_subjects=[9]")
    assert_one_line_error(proc, "cameras.h5")
    assert not (tmp_path / "o" / "results.json").exists()


def test_typed_flags_are_checked_as_their_config_keys():
    from lifting.cli import ArgumentParser, add_option, typed
    from lifting.config import opt
    from lifting.options.h36m import SCHEMA

    epochs, lr = typed(SCHEMA["epochs"], "--epochs"), typed(SCHEMA["lr"], "--lr")
    assert epochs("5") == 5 and lr("1e-3") == 0.001 and lr("1") == 1.0
    for parse, text, message in [(epochs, "-1", "--epochs must be in [0, 100000], got -1"),
                                 (epochs, "2.5", "--epochs '2.5': expected int"),
                                 (epochs, "9" * 5000, "expected int"),
                                 (lr, "nan", "--lr must be a finite number, got nan"),
                                 (lr, "0", "--lr must be in (0, 1], got 0.0")]:
        with pytest.raises(UserError, match=re.escape(message)):
            parse(text)
    subjects = typed(SCHEMA["train_subjects"], "--train-subjects")
    assert subjects("1,5, 6") == [1, 5, 6]
    with pytest.raises(UserError, match=re.escape("--train-subjects items must be unique, got 1 twice")):
        subjects("1,1")
    box = typed(opt(float, None, "box", nullable=True, minimum=-10, maximum=10), "--box", count=4)
    assert box("1,2,3,4") == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(UserError, match=re.escape("--box '1,2,3': expected 4 comma-separated values")):
        box("1,2,3")
    with pytest.raises(UserError, match=re.escape("--box must be in [-10, 10], got 11.0")):
        box("1,2,3,11")
    pairs = typed(SCHEMA["num_pairs"], "--num-pairs")
    assert pairs("all") == "all" and pairs("3") == 3 and pairs("null") is None
    p = ArgumentParser(prog="x")
    add_option(p, "--epochs", SCHEMA["epochs"])
    assert p.parse_args([]).epochs == SCHEMA["epochs"].default and p.parse_args(["--epochs", "7"]).epochs == 7
    assert "training epochs (in [0, 100000])" in p.format_help()


def test_run_cli_returns_exit_codes(capsys):
    from lifting.cli import ArgumentParser

    def main(argv):
        args = ArgumentParser(prog="x").parse_args(argv)
        return 0 if args is not None else 1

    assert run_cli(main, []) == 0 and run_cli(main, ["--help"]) == 0
    capsys.readouterr()
    assert run_cli(main, ["--bogus"]) == 2
    assert capsys.readouterr().err == "error: x: unrecognized arguments: --bogus\n"
    assert run_cli(lambda argv: None) == 0
