"""Every paper_exps script end to end with --quick on the built-in synthetic data (tiny, 1 epoch), called in-process
(`main(argv)`); one test runs a script as a command."""

import contextlib
import io
import json
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import write_fixture

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = ("table_1", "table_2", "fig_1d", "fig_4ab", "fig_4c_test_noise", "fig_4c_train_test_noise", "fig_4d", "fig_5")


def quick(results, cache, *extra):
    return ["--quick", "--data-dir", "synthetic", "--results-dir", str(results), "--cache-dir", str(cache),
            "--device", "cpu", *map(str, extra)]


def run_script(name, results, cache, *extra):
    """The script's main(argv) in this process: its exit code and what it printed."""
    main = runpy.run_path(str(REPO / "paper_exps" / f"{name}.py"), run_name="paper_exps_test")["main"]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(quick(results, cache, *extra))
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def load(path):
    return json.loads(Path(path).read_text())


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("paper")
    write_fixture(tmp / "rel.json", 80, 30)
    out = {}
    for name in SCRIPTS:
        extra = ("--lsp-json", str(tmp / "rel.json")) if name == "fig_5" else ()
        proc = run_script(name, tmp / "results", tmp / "cache", *extra)
        assert proc.returncode == 0, f"{name}: {proc.stderr[-2000:]}"
        out[name] = load(tmp / "results" / name / "summary.json")
    return tmp, out


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_row_finished_or_was_skipped_for_missing_inputs(results, name):
    tmp, summaries = results
    summary = summaries[name]
    assert summary["quick"] is True and summary["order"]
    for row_name, row in summary["rows"].items():
        if row["status"] == "skipped":
            # Only rows on stacked-hourglass detections may be skipped (no detections given).
            assert "--detections-dir" in row["reason"]
            assert row_name.endswith(("_sh_sh", "_sh_sh_n", "_dts"))
            continue
        assert row["status"] == "done", (row_name, row)
        stored = load(tmp / "results" / name / row_name / "results.json")
        run = load(tmp / "results" / name / row_name / "seed_0" / "results.json")
        if row["entry"] == "human36":
            for k in ("mpjpe", "n_mpjpe", "pa_mpjpe"):
                assert np.isfinite(stored[k]) and stored[k] == run[k] and stored[f"{k}_std"] == 0.0
            assert stored["pa_mpjpe"] <= stored["mpjpe"] + 1e-9   # Procrustes can only reduce the error
            assert stored["config"]["epochs"] == 1 and stored["config"]["data_dir"] == "synthetic"
        else:
            assert 0.0 <= stored["pair_accuracy"] <= 1.0 and stored["pair_accuracy"] == run["pair_accuracy"]


def test_rows_carry_their_yaml_settings(results):
    _, s = results
    cfg = lambda exp, row: s[exp]["rows"][row]["config"]  # noqa: E731
    assert cfg("table_1", "row_sup")["model"] == "supervised" and cfg("table_1", "row_sup")["num_stage"] == 1
    assert cfg("table_1", "row_sup")["sup_loss"] == "mm" and cfg("table_1", "row_sup")["lr_schedule"] == "staircase"
    assert cfg("table_1", "row_ours")["model"] == "relative" and cfg("table_1", "row_ours")["num_pairs"] == 1
    assert cfg("table_1", "row_3")["reprojection"] == "weak_perspective" and cfg("table_1", "row_3")["scale_range"] == 0.001
    assert cfg("table_1", "row_4")["limb_type"] == "avg_person"
    assert cfg("table_1", "row_5")["loss_symm"] == 0.0
    assert cfg("table_1", "row_6")["num_pairs"] == "all"
    assert cfg("table_1", "row_7")["tolerance_mm"] == 100.0
    assert cfg("table_2", "our_17_gt_gt_n")["rel_labels_noise_prob"] == "mturk"
    assert s["table_2"]["rows"]["our_16_sh_sh"]["status"] == "skipped"
    test10, both10 = cfg("fig_4c_test_noise", "sup_10"), cfg("fig_4c_train_test_noise", "sup_10")
    assert (test10["train_noise_type"], test10["test_noise_type"], test10["test_noise_amount"]) == ("none", "normal", 10.0)
    assert (both10["train_noise_type"], both10["train_noise_amount"]) == ("normal", 10.0)
    assert [cfg("fig_4d", r)["rel_labels_noise_prob"] for r in s["fig_4d"]["order"]] == [0.0, 0.25, "mturk", 0.5, 0.75, 1.0]
    assert cfg("fig_1d", "rel_allpairs_100pct")["num_pairs"] == "all"
    assert cfg("fig_4ab", "ours")["save_predictions"] is True
    assert cfg("fig_5", "h36m_rel_14")["skeleton"] == "lsp_14"
    ft = cfg("fig_5", "lsp_rel_ft")
    assert ft["limb_type"] == "avg_human36" and ft["load"].endswith(str(Path("h36m_rel_14") / "seed_0" / "last.pt"))
    assert cfg("fig_5", "lsp_sup_test")["eval_only"] is True


def test_test_noise_hurts_the_same_trained_model(results):
    _, s = results
    rows = s["fig_4c_test_noise"]["rows"]
    # The noisy levels evaluate the level-0 model of the same seed: only the test noise differs.
    for n in (5, 10, 15, 20):
        cfg = rows[f"sup_{n}"]["config"]
        assert cfg["eval_only"] and cfg["load"].endswith(str(Path("sup_0") / "seed_0" / "last.pt"))
        assert rows[f"sup_{n}"]["epochs_run"] == 0
    errs = [rows[f"sup_{n}"]["mpjpe"] for n in (0, 5, 10, 15, 20)]
    assert errs[0] < errs[2] < errs[4]
    # Training noise is a different experiment: every level trains its own model there.
    assert not s["fig_4c_train_test_noise"]["rows"]["sup_10"]["config"]["eval_only"]


def test_fig_1d_fractions_shrink_the_training_set(results):
    _, s = results
    rows = s["fig_1d"]["rows"]
    assert rows["sup_25pct"]["num_train_samples"] < rows["sup_100pct"]["num_train_samples"]
    assert rows["rel_1pair_50pct"]["num_train_samples"] == pytest.approx(
        rows["rel_1pair_100pct"]["num_train_samples"] / 2, abs=1)


def test_finished_rows_are_skipped_and_interrupted_runs_resume(results):
    tmp, s = results
    before = s["table_1"]["rows"]["row_ours"]["pa_mpjpe"]
    proc = run_script("table_1", tmp / "results", tmp / "cache", "--rows", "row_ours")
    assert proc.returncode == 0 and "already finished" in proc.stdout
    # Interrupted: the run dir has last.pt but no results.json -> resumed, same numbers.
    (tmp / "results" / "table_1" / "row_ours" / "seed_0" / "results.json").unlink()
    proc = run_script("table_1", tmp / "results", tmp / "cache", "--rows", "row_ours")
    assert proc.returncode == 0 and "resuming" in proc.stdout
    after = load(tmp / "results" / "table_1" / "summary.json")
    assert after["rows"]["row_ours"]["pa_mpjpe"] == pytest.approx(before, abs=1e-6)
    assert set(after["order"]) == set(s["table_1"]["order"])   # earlier rows stay in the summary


@pytest.mark.slow
def test_seeds_report_mean_and_std_and_jobs_run_in_parallel(tmp_path, results):
    tmp, _ = results
    proc = run_script("fig_4ab", tmp_path, tmp / "cache", "--seeds", "2", "--jobs", "2", "--rows", "sup")
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = load(tmp_path / "fig_4ab" / "sup" / "results.json")
    vals = [load(tmp_path / "fig_4ab" / "sup" / f"seed_{k}" / "results.json")["pa_mpjpe"] for k in (0, 1)]
    assert row["num_seeds"] == 2 and vals[0] != vals[1]
    assert row["pa_mpjpe"] == pytest.approx(np.mean(vals)) and row["pa_mpjpe_std"] == pytest.approx(np.std(vals))
    assert row["seed_values"]["pa_mpjpe"] == pytest.approx(vals)


def test_lsp_rows_are_skipped_without_the_label_file(tmp_path, results):
    tmp, _ = results
    proc = run_script("fig_5", tmp_path, tmp / "cache", "--lsp-json", str(tmp_path / "absent.json"),
                      "--rows", "h36m_rel_14,lsp_rel_test")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = load(tmp_path / "fig_5" / "summary.json")["rows"]
    assert rows["h36m_rel_14"]["status"] == "done"
    assert rows["lsp_rel_test"]["status"] == "skipped" and "--lsp-json" in rows["lsp_rel_test"]["reason"]


@pytest.mark.parametrize("args, message", [
    (("--rows", "row_sup,nope"), "unknown row(s) nope"),
    (("--seeds", "0"), "--seeds must be in [1, 1000], got 0"),
    (("--launcher", "slurm", "--cpus-per-run", "0"), "--cpus-per-run must be in [1, 4096], got 0"),
    (("--launcher", "slurm", "--slurm-opts", "partiton=gpu"), "partiton: not an sbatch option submitit knows"),
    (("--set", "no_such_key=1"), "no_such_key"),
    (("--train-subjects", "S1,x"), "--train-subjects 'S1': expected list[int]"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, args, message):
    proc = run_script("table_1", tmp_path, tmp_path / "cache", *args)
    assert proc.returncode == 2 and message in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0
    assert not (tmp_path / "table_1").exists()


def test_a_script_is_a_command_that_refuses_bad_input_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "paper_exps/table_1.py", *quick(tmp_path, tmp_path / "cache"), "--jobs", "0"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr == "error: --jobs must be in [1, 1024], got 0\n"
    assert not (tmp_path / "table_1").exists()


def test_a_training_shared_by_experiments_runs_once(results):
    tmp, s = results
    res = tmp / "results"
    for exp, row, twin in (("table_2", "our_17_gt_gt", "row_ours"), ("fig_1d", "sup_100pct", "row_sup"),
                           ("fig_4ab", "ours", "row_ours"), ("fig_4d", "noise_0", "row_ours")):
        r = s[exp]["rows"][row]
        assert r["trained_in"] == {"seed_0": str(res / "table_1" / twin / "seed_0")}, (exp, row)
        for k in ("mpjpe", "pa_mpjpe", "n_mpjpe"):
            assert r[k] == pytest.approx(s["table_1"]["rows"][twin][k], abs=1e-6)
    # An output-only key differs (save_predictions): the copied training still writes this row's outputs.
    assert (res / "fig_4ab" / "ours" / "seed_0" / "predictions.npz").is_file()
    # A training key differs (training noise, label noise): trained anew.
    assert "trained_in" not in s["fig_4c_train_test_noise"]["rows"]["sup_10"]
    assert "trained_in" not in s["fig_4d"]["rows"]["noise_50"]


def test_a_twin_is_a_finished_run_with_the_same_training_settings(tmp_path):
    from lifting.config import save_config
    from lifting.experiments.training import finished_twin

    def finished(path, **cfg):
        path.mkdir(parents=True)
        save_config(path / "config.yaml", {"out_dir": str(path), **cfg})
        (path / "last.pt").write_bytes(b"")
        (path / "results.json").write_text("{}")

    finished(tmp_path / "exp_a" / "row" / "seed_0", seed=0, lr=0.001, figure=False)
    finished(tmp_path / "exp_b" / "row" / "seed_0", seed=1, lr=0.001, figure=False)
    mine = {"out_dir": str(tmp_path / "exp_c" / "row" / "seed_0"), "lr": 0.001, "figure": True}
    assert finished_twin({**mine, "seed": 0}, tmp_path) == tmp_path / "exp_a" / "row" / "seed_0"
    assert finished_twin({**mine, "seed": 1}, tmp_path) == tmp_path / "exp_b" / "row" / "seed_0"
    assert finished_twin({**mine, "seed": 2}, tmp_path) is None
    assert finished_twin({**mine, "seed": 0, "lr": 0.002}, tmp_path) is None
    (tmp_path / "exp_a" / "row" / "seed_0" / "results.json").unlink()   # not finished: no twin
    assert finished_twin({**mine, "seed": 0}, tmp_path) is None
