"""The launcher (`lifting.engine.launchers`): paper rows and trainings as submitit jobs (its local executor stands in
for Slurm), the sbatch scripts of a dry run, requeue after preemption, torchrun's environment from Slurm's, and
bad options refused before anything is submitted."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lifting.cli import ArgumentParser
from lifting.config import load_config
from lifting.engine.launchers import Job, _Submitted, add_launcher_args, launch_training, train
from lifting.errors import UserError
from lifting.experiments.arguments import parse_args
from lifting.experiments.experiment import Experiment, Row
from lifting.experiments.runner import run_experiment

REPO = Path(__file__).resolve().parents[1]
TABLE_1 = Experiment("table_1", "Table 1", (Row("row_sup", "3D Supervised", "sup"), Row("row_ours", "Ours", "ours")))
FIG_4AB = Experiment("fig_4ab", "Fig. 4a/4b", (Row("sup", "3D Supervised", "sup"),))
METRICS = ("mpjpe", "pa_mpjpe", "n_mpjpe", "mpjpe_std", "pa_mpjpe_std", "num_test_frames", "per_action")


def quick_args(results, cache, *extra):
    return ["--quick", "--data-dir", "synthetic", "--results-dir", str(results), "--cache-dir", str(cache),
            "--device", "cpu", *extra]


def sbatch_lines(path: Path) -> dict[str, str]:
    return dict(line[len("#SBATCH --"):].split("=", 1) for line in path.read_text().splitlines()
                if line.startswith("#SBATCH --") and "=" in line)


@pytest.mark.slow
def test_a_quick_experiment_through_submitit_gives_the_local_numbers(tmp_path):
    summaries = {}
    for launcher in ("local", "submitit-local"):
        args = parse_args(FIG_4AB, quick_args(tmp_path / launcher, tmp_path / "cache", "--launcher", launcher))
        run_experiment(FIG_4AB, args)
        summaries[launcher] = json.loads((tmp_path / launcher / "fig_4ab" / "summary.json").read_text())
    local, slurm = summaries["local"]["rows"]["sup"], summaries["submitit-local"]["rows"]["sup"]
    assert local["status"] == slurm["status"] == "done"
    assert {k: local[k] for k in METRICS} == {k: slurm[k] for k in METRICS}
    logs = sorted(p.name for p in (tmp_path / "submitit-local" / "fig_4ab" / "slurm").iterdir())
    assert sum(n.endswith("_log.out") for n in logs) == 1     # one job per row and seed, logs in the results folder
    assert not (tmp_path / "local" / "fig_4ab" / "slurm").exists()


def test_the_dry_run_writes_one_sbatch_script_per_unfinished_run(tmp_path):
    results, cache = tmp_path / "r", tmp_path / "cache"
    run_experiment(TABLE_1, parse_args(TABLE_1, quick_args(results, cache, "--rows", "row_sup")))  # finished here
    argv = quick_args(results, cache, "--seeds", "2", "--launcher", "slurm", "--dry-run", "--stack", "no",
                      "--slurm-partition", "gpu", "--slurm-time", "1-02:30:00", "--gpus-per-run", "1",
                      "--cpus-per-run", "4", "--slurm-opts", "account=lab", "mem=16G")
    out = run_experiment(TABLE_1, parse_args(TABLE_1, argv))
    folder = (results / "table_1" / "slurm").resolve()
    scripts = sorted(Path(p).name for p in out["dry_run"])
    # row_sup seed 0 finished: never submitted again; its seed 1 and both of row_ours' seeds are.
    assert scripts == ["table_1.row_ours.seed_0.sbatch", "table_1.row_ours.seed_1.sbatch",
                       "table_1.row_sup.seed_1.sbatch"]
    script = folder / "dry_run" / "table_1.row_ours.seed_1.sbatch"
    flags = sbatch_lines(script)
    assert flags["partition"] == "gpu" and flags["time"] == str(24 * 60 + 150) and flags["gpus-per-node"] == "1"
    assert flags["cpus-per-task"] == "4" and flags["nodes"] == "1" and flags["ntasks-per-node"] == "1"
    assert flags["account"] == "lab" and flags["mem"] == "16G" and flags["job-name"] == "table_1.row_ours.seed_1"
    assert flags["output"] == f"{folder}/%j_0_log.out" and flags["signal"] == "USR2@90"
    run_dir = results / "table_1" / "row_ours" / "seed_1"
    assert str(run_dir) in shlex.split(flags["comment"])[-1]
    command = script.read_text().strip().splitlines()[-1].split()   # the job: submitit runs the pickled row call
    assert command[0] == "srun" and command[-5:] == [sys.executable, "-u", "-m", "submitit.core._submit", str(folder)]
    # A dry run trains nothing and writes no results.
    assert not run_dir.exists() and not (results / "table_1" / "row_ours").exists()
    assert json.loads((results / "table_1" / "summary.json").read_text())["order"] == ["row_sup"]


def training_args(*argv):
    p = ArgumentParser()
    add_launcher_args(p, multi_node=True)
    return p.parse_args(list(argv))


def test_the_dry_run_of_a_two_node_four_gpu_estimator_training(tmp_path):
    from lifting.options.metro import SCHEMA

    cfg = load_config(SCHEMA, REPO / "opts" / "metro_r50.yaml", [f"out_dir={tmp_path / 'run'}"])
    args = training_args("--launcher", "slurm", "--dry-run", "--nodes", "2", "--gpus-per-node", "4",
                         "--cpus-per-run", "8", "--slurm-partition", "gpu", "--slurm-time", "48:00:00")
    assert launch_training("metro", cfg, False, args) is None
    (script,) = (tmp_path / "run" / "slurm" / "dry_run").iterdir()
    flags = sbatch_lines(script)
    assert (flags["nodes"], flags["ntasks-per-node"], flags["gpus-per-node"], flags["cpus-per-task"]) == \
        ("2", "4", "4", "8")
    assert flags["time"] == str(48 * 60) and flags["job-name"] == "metro.run"
    assert script.read_text().strip().splitlines()[-1].startswith("srun --unbuffered --output")
    assert not (tmp_path / "run" / "last.pt").exists()


def test_a_job_of_several_processes_gets_torchruns_environment_from_slurms(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.setenv(key, "unset")   # restored after the test: the launcher sets them in this process
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    for key, value in {"SLURM_JOB_ID": "4321", "SLURM_NTASKS": "8", "SLURM_JOB_NUM_NODES": "2", "SLURM_NODEID": "1",
                       "SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_JOB_NODELIST": "gpu[07-08]"}.items():
        monkeypatch.setenv(key, value)
    read = lambda: {k: os.environ[k] for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    assert _Submitted(read, (), None)() == {"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "MASTER_ADDR": "gpu07",
                                            "MASTER_PORT": str(20000 + 4321)}
    # The checkpoint hook requeues the job with its requeue arguments.
    job = Job("j", train, ("metro", {}, False), "", ("metro", {}, None))
    requeued = _Submitted(job.fn, job.args, job.requeue_args).checkpoint()
    assert requeued.function.args == ("metro", {}, None)


def lifter_cfg(out_dir, cache, epochs=4):
    from lifting.options.h36m import SCHEMA

    return load_config(SCHEMA, None, ["data_dir=synthetic", f"cache_dir={cache}", f"out_dir={out_dir}",
                                      "synthetic_size=tiny", f"epochs={epochs}", "linear_size=64", "num_stage=1",
                                      "batch_size=16", "threads=1", "tensorboard=false", "progress=false"])


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.slow
def test_a_preempted_job_is_requeued_and_ends_with_the_uninterrupted_metrics(tmp_path):
    import submitit

    from lifting.tasks import run_task

    straight = run_task("lifting", lifter_cfg(tmp_path / "straight", tmp_path / "cache"))
    cfg = lifter_cfg(tmp_path / "job", tmp_path / "cache")
    executor = submitit.LocalExecutor(tmp_path / "slurm")
    executor.update_parameters(timeout_min=10)
    job = executor.submit(_Submitted(train, ("lifting", cfg, False), ("lifting", cfg, None)))
    deadline = time.monotonic() + 120
    while not (tmp_path / "job" / "last.pt").is_file() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not (tmp_path / "job" / "results.json").is_file()   # stopped in the middle of the training
    (task,) = children(job._process.pid)                        # the job's process (its parent: submitit's)
    os.kill(task, signal.SIGUSR2)                               # what Slurm sends before preempting a job
    resumed = job.result()
    log = "".join(p.read_text() for p in (tmp_path / "slurm").glob("*_log.*"))
    assert "Requeued job" in log and resumed["epochs_run"] == 4
    for key in ("mpjpe", "pa_mpjpe", "n_mpjpe", "per_action", "curve"):
        if key == "curve":   # the curve's minutes differ; its metrics may not
            assert [{k: v for k, v in p.items() if k != "minutes"} for p in resumed[key]] == \
                [{k: v for k, v in p.items() if k != "minutes"} for p in straight[key]]
        else:
            assert resumed[key] == straight[key], key


@pytest.mark.slow
def test_a_two_process_gloo_training_through_the_launcher_matches_torchrun(tmp_path):
    from lifting.options.metro import SCHEMA

    sets = ["iterations=4", "crop_size=64", "batch_size=4", "eval_batch_size=8", "max_test_crops=8",
            "synthetic_size=tiny", "stride=1", "test_stride=1", "train_subjects=[1]", "test_subjects=[9]",
            "threads=1", "tensorboard=false", "progress=false", "checkpoint_every=null", "max_train_minutes=null",
            "abs_start=0", "weak_steps=1", "device=cpu", "data_dir=synthetic", f"cache_dir={tmp_path / 'cache'}"]
    cfg = load_config(SCHEMA, REPO / "opts" / "metro_tiny.yaml", [*sets, f"out_dir={tmp_path / 'launcher'}"])
    res = launch_training("metro", cfg, False, training_args("--launcher", "submitit-local", "--tasks-per-node", "2"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29611",
                           "main_metro.py", "--opt", "opts/metro_tiny.yaml", "--set", *sets,
                           f"out_dir={tmp_path / 'torchrun'}"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ref = json.loads((tmp_path / "torchrun" / "results.json").read_text())
    assert res["world_size"] == ref["world_size"] == 2 and res["iterations"] == ref["iterations"]
    for key in ("mpjpe", "pa_mpjpe", "mean_pose_mpjpe", "mrpe"):
        assert res[key] == ref[key], key


@pytest.mark.parametrize("argv, message", [
    (("--slurm-opts", "partiton=gpu"), "--slurm-opts partiton: not an sbatch option submitit knows"),
    (("--slurm-opts", "time=60"), "--slurm-opts time: set by the launcher's own flags"),
    (("--slurm-opts", "account"), "expected KEY=VALUE"),
    (("--cpus-per-run", "0"), "--cpus-per-run must be in [1, 4096], got 0"),
    (("--gpus-per-run", "-1"), "--gpus-per-run must be in [0, 64], got -1"),
    (("--slurm-time", "0"), "a job needs at least one minute"),
    (("--slurm-time", "soon"), "expected minutes or [D-]HH:MM:SS"),
    (("--slurm-partition", "gpu;rm"), "expected a Slurm partition name"),
    ((), "no sbatch on this machine"),
])
def test_bad_slurm_options_are_one_line_errors_before_anything_is_written(tmp_path, argv, message):
    with pytest.raises(UserError) as e:
        parse_args(TABLE_1, quick_args(tmp_path / "r", tmp_path / "cache", "--launcher", "slurm", *argv))
    assert message in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "r").exists()


def test_slurm_config_yaml_and_flags(tmp_path):
    (tmp_path / "slurm.yaml").write_text("partition: long\ntime: 600\ncpus_per_run: 2\nopts: {qos: low}\n")
    argv = quick_args(tmp_path / "r", tmp_path / "cache", "--launcher", "slurm", "--dry-run", "--rows", "row_sup",
                      "--slurm-config", str(tmp_path / "slurm.yaml"), "--slurm-time", "30")
    (script,) = run_experiment(TABLE_1, parse_args(TABLE_1, argv))["dry_run"]
    flags = sbatch_lines(Path(script))
    assert (flags["partition"], flags["time"], flags["cpus-per-task"], flags["qos"]) == ("long", "30", "2", "low")
    (tmp_path / "bad.yaml").write_text("partitions: long\n")
    with pytest.raises(UserError, match=r"bad.yaml: unknown key\(s\) partitions; expected partition, time"):
        parse_args(TABLE_1, [*argv[:-4], "--slurm-config", str(tmp_path / "bad.yaml")])


def test_slurm_without_submitit_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)   # import submitit -> ImportError
    with pytest.raises(UserError, match=r"--launcher slurm needs submitit: pip install"):
        parse_args(TABLE_1, quick_args(tmp_path / "r", tmp_path / "cache", "--launcher", "slurm", "--dry-run"))
