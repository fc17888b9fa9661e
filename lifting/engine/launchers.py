"""Where jobs run: here (`--launcher local`: in this process, or `--jobs N` parallel local processes) or on a Slurm
cluster through submitit (`--launcher slurm`; `submitit-local` runs the same pickled jobs as local processes, to try
a setup before sending it to the cluster).

A job is a picklable call that can be repeated: run again after an interruption it carries on from the run's
last.pt. So submitit's checkpoint hook only has to requeue it (preemption, time limit), and a job of several
processes (`--nodes`, `--gpus-per-node`) gets torchrun's environment variables from submitit's job environment,
so the engine's DDP setup (`distributed.setup_distributed`) works unchanged.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from lifting.cli import add_option
from lifting.config import check_value, opt
from lifting.errors import UserError
from lifting.fileio import reading, write_text

log = logging.getLogger("lifting")
LAUNCHERS = ("local", "slurm", "submitit-local")
# The resources, as keys of a --slurm-config YAML and as flags (`FLAGS`), checked alike.
OPTIONS = {
    "partition": opt(str, None, "Slurm partition", nullable=True),
    "time": opt((int, str), None, "time limit of each job: minutes or [D-]HH:MM:SS (default 24:00:00)", nullable=True),
    "nodes": opt(int, 1, "nodes of the job", minimum=1, maximum=4096),
    "gpus_per_node": opt(int, 0, "GPUs per node, one process each", minimum=0, maximum=64),
    "gpus_per_run": opt(int, 0, "GPUs of each run's job", minimum=0, maximum=64),
    "tasks_per_node": opt(int, None, "processes per node (default: one per GPU, else 1)", nullable=True, minimum=1,
                          maximum=1024),
    "cpus_per_run": opt(int, None, "CPU cores of each process (default: the partition's)", nullable=True, minimum=1,
                        maximum=4096),
    "opts": opt(dict, None, "more sbatch options by submitit's names (account, qos, mem, constraint, ...)",
                nullable=True),
}
FLAGS = {"partition": "--slurm-partition", "time": "--slurm-time", "nodes": "--nodes", "gpus_per_node": "--gpus-per-node",
         "gpus_per_run": "--gpus-per-run", "tasks_per_node": "--tasks-per-node", "cpus_per_run": "--cpus-per-run"}
# submitit's Slurm parameters that the launcher's own flags set, or that only submitit itself may set.
_FLAG_KEYS = frozenset({"partition", "time", "nodes", "ntasks_per_node", "gpus_per_node", "cpus_per_task", "job_name",
                        "comment", "num_gpus", "gpus_per_task", "cpus_per_gpu", "additional_parameters", "setup",
                        "teardown", "srun_args", "use_srun", "array_parallelism", "stderr_to_stdout"})


@dataclass(frozen=True)
class Resources:
    """What one Slurm job asks for. `tasks_per_node`: processes per node (default one per GPU, else one)."""

    partition: str | None = None
    time_min: int = 24 * 60
    nodes: int = 1
    gpus_per_node: int = 0
    tasks_per_node: int | None = None
    cpus_per_task: int | None = None
    opts: dict[str, Any] = field(default_factory=dict)

    @property
    def tasks(self) -> int:
        return self.tasks_per_node or max(1, self.gpus_per_node)


@dataclass(frozen=True)
class Launcher:
    """How to run a list of jobs; `folder`: submitit's scripts, pickles and logs."""

    kind: str = "local"
    jobs: int = 1
    resources: Resources = Resources()
    folder: Path = Path("slurm")
    dry_run: bool = False


@dataclass(frozen=True)
class Job:
    """`fn(*args)`, named `name` (the Slurm job name), described by `what` (the Slurm job's comment). A requeued job
    runs `fn(*requeue_args)` (default: the same arguments)."""

    name: str
    fn: Callable[..., Any]
    args: tuple
    what: str
    requeue_args: tuple | None = None


@dataclass(frozen=True)
class Failure:
    """A job that ended without a result (killed, out of memory, failed on the cluster)."""

    reason: str


# ------------------------------------------------------------------------------------------------ arguments

def add_launcher_args(parser: argparse.ArgumentParser, multi_node: bool = False) -> None:
    """The launcher's options; `multi_node`: a training run that may span nodes and GPUs, else one job per run."""
    g = parser.add_argument_group("launcher (README: On a cluster)")
    g.add_argument("--launcher", choices=LAUNCHERS, default="local",
                   help="local: this machine (default); slurm: one Slurm job per run through submitit; "
                        "submitit-local: the Slurm path run as local processes")
    g.add_argument("--slurm-config", metavar="FILE.yaml", help=f"Slurm resources ({', '.join(OPTIONS)}); flags "
                                                                "override it")
    keys = ("partition", "time", *(("nodes", "gpus_per_node", "tasks_per_node") if multi_node else ("gpus_per_run",)),
            "cpus_per_run")
    for key in keys:
        if key in ("partition", "time"):
            g.add_argument(FLAGS[key], dest=key, help=OPTIONS[key].help)
        else:
            add_option(g, FLAGS[key], OPTIONS[key], dest=key, default=None)
    g.add_argument("--slurm-opts", nargs="+", default=[], metavar="KEY=VALUE", help=OPTIONS["opts"].help)
    g.add_argument("--dry-run", action="store_true",
                   help="with slurm: write the sbatch scripts of the jobs that would be submitted, submit nothing")


def launcher_from_args(args: argparse.Namespace, folder: Path, jobs: int = 1) -> Launcher:
    """The launcher the options ask for; any bad value is a one-line error before anything is submitted."""
    if args.launcher == "local":
        if args.dry_run:
            raise UserError("--dry-run writes Slurm scripts: it goes with --launcher slurm")
        return Launcher("local", jobs, folder=folder)
    submitit_module()
    merged = {key: o.default for key, o in OPTIONS.items()}
    merged.update(_read_slurm_yaml(args.slurm_config) if args.slurm_config else {})
    merged.update({k: getattr(args, k) for k in FLAGS if getattr(args, k, None) is not None})
    where = lambda key: FLAGS[key] if getattr(args, key, None) is not None else f"{args.slurm_config}: {key}"
    partition = merged["partition"]
    if partition is not None and not re.fullmatch(r"[\w.-]+", str(partition)):
        raise UserError(f"{where('partition')} {partition!r}: expected a Slurm partition name")
    opts = {**_slurm_opts(merged["opts"] or {}, f"{args.slurm_config}: opts"),
            **_slurm_opts(dict(_key_value(t) for t in args.slurm_opts), "--slurm-opts")}
    res = Resources(partition=partition, nodes=merged["nodes"],
                    time_min=Resources.time_min if merged["time"] is None else _minutes(merged["time"], where("time")),
                    gpus_per_node=merged["gpus_per_node"] or merged["gpus_per_run"],
                    tasks_per_node=merged["tasks_per_node"], cpus_per_task=merged["cpus_per_run"], opts=opts)
    if args.launcher == "submitit-local" and res.nodes > 1:
        raise UserError("--nodes: submitit-local runs on this machine only (one node); use --launcher slurm")
    if args.launcher == "slurm" and not args.dry_run and shutil.which("sbatch") is None:
        raise UserError("--launcher slurm: no sbatch on this machine; submit from a cluster login node (or write "
                        "the scripts with --dry-run)")
    return Launcher(args.launcher, jobs, res, folder, bool(args.dry_run))


def submitit_module():
    """submitit, or a one-line error saying how to install it."""
    try:
        import submitit
    except ImportError:
        raise UserError("--launcher slurm needs submitit: pip install 'submitit>=1.5'") from None
    return submitit


def _read_slurm_yaml(path: str) -> dict[str, Any]:
    """The resources in a --slurm-config file, each checked as its flag is."""
    import yaml

    with reading(path, "Slurm config", "a YAML mapping"):
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a YAML mapping of {', '.join(OPTIONS)}")
    unknown = sorted(str(k) for k in data if k not in OPTIONS)
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(unknown)}; expected {', '.join(OPTIONS)}")
    return {k: check_value(OPTIONS[k], v, f"{path}: {k}") for k, v in data.items()}


def _minutes(value: Any, where: str) -> int:
    """Slurm's time formats: minutes, [D-]HH:MM:SS or D-HH[:MM]."""
    text = str(value).strip()
    if re.fullmatch(r"\d+", text):
        minutes = int(text)
    elif m := re.fullmatch(r"(?:(\d+)-)?(\d+):(\d+):(\d+)", text):
        days, hours, mins, secs = (int(g or 0) for g in m.groups())
        minutes = days * 1440 + hours * 60 + mins + (secs > 0)
    elif m := re.fullmatch(r"(\d+)-(\d+)(?::(\d+))?", text):
        days, hours, mins = (int(g or 0) for g in m.groups())
        minutes = days * 1440 + hours * 60 + mins
    else:
        raise UserError(f"{where} {value!r}: expected minutes or [D-]HH:MM:SS, e.g. 240 or 1-12:00:00")
    if minutes < 1:
        raise UserError(f"{where} {value!r}: a job needs at least one minute")
    return minutes


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise UserError(f"--slurm-opts {text!r}: expected KEY=VALUE, e.g. account=mylab")
    return key.strip(), value.strip()


def _slurm_opts(opts: dict[str, Any], where: str) -> dict[str, Any]:
    """sbatch options by submitit's names (dashes allowed); one the launcher sets or submitit does not know is an
    error naming it."""
    from submitit.slurm.slurm import _get_default_parameters

    known = sorted(set(_get_default_parameters()) - _FLAG_KEYS)
    out = {}
    for key, value in opts.items():
        name = str(key).replace("-", "_")
        if name in _FLAG_KEYS:
            raise UserError(f"{where} {key}: set by the launcher's own flags (--slurm-partition, --slurm-time, "
                            "--nodes, --gpus-per-node / --gpus-per-run, --cpus-per-run)")
        if name not in known:
            raise UserError(f"{where} {key}: not an sbatch option submitit knows; expected one of {', '.join(known)}")
        out[name] = int(value) if name == "signal_delay_s" and str(value).isdigit() else str(value)
    return out


# ---------------------------------------------------------------------------------------------------- running

def run_jobs(jobs: list[Job], launcher: Launcher) -> list[Any]:
    """Every job's result in order (a `Failure` for a job that ended without one); with a dry run the paths of
    the written sbatch scripts instead."""
    if launcher.kind == "local":
        if launcher.jobs <= 1 or len(jobs) <= 1:
            return [job.fn(*job.args) for job in jobs]
        with ProcessPoolExecutor(min(launcher.jobs, len(jobs)), mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(job.fn, *job.args) for job in jobs]
            return [f.result() for f in futures]
    if launcher.dry_run:
        return [write_script(job, launcher) for job in jobs]
    return _submit(jobs, launcher)


def slurm_parameters(job: Job, res: Resources) -> dict[str, Any]:
    """The job's sbatch parameters, by submitit's names."""
    params = {"job_name": job.name, "comment": job.what, "time": res.time_min, "nodes": res.nodes,
              "ntasks_per_node": res.tasks, **res.opts}
    for key, value in (("partition", res.partition), ("gpus_per_node", res.gpus_per_node or None),
                       ("cpus_per_task", res.cpus_per_task)):
        if value is not None:
            params[key] = value
    return params


def write_script(job: Job, launcher: Launcher) -> Path:
    """<folder>/dry_run/<job name>.sbatch: the script `sbatch` would get for this job."""
    from submitit.slurm.slurm import _make_sbatch_string

    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit",
                        shlex.quote(str(launcher.folder.resolve()))])
    text = _make_sbatch_string(command=command, folder=launcher.folder.resolve(),
                               **slurm_parameters(job, launcher.resources))
    return write_text(launcher.folder / "dry_run" / f"{job.name}.sbatch", text)


def _submit(jobs: list[Job], launcher: Launcher) -> list[Any]:
    submitit = submitit_module()
    res = launcher.resources
    if launcher.kind == "slurm":
        executor = submitit.SlurmExecutor(launcher.folder, max_num_timeout=3)
    else:
        executor = submitit.LocalExecutor(launcher.folder, max_num_timeout=3)
    submitted = []
    try:
        for job in jobs:
            if launcher.kind == "slurm":
                executor.update_parameters(**slurm_parameters(job, res))
            else:
                executor.update_parameters(timeout_min=res.time_min, tasks_per_node=res.tasks,
                                           gpus_per_node=res.gpus_per_node)
            submitted.append(executor.submit(_Submitted(job.fn, job.args, job.requeue_args)))
            log.info(f"{job.name}: submitted as job {submitted[-1].job_id} (logs {launcher.folder})")
        results = []
        for sub in submitted:
            try:
                results.append(sub.results()[0])   # rank 0's: the others return nothing
            except Exception as e:   # submitit's FailedJobError / UncompletedJobError: the log says why
                reason = str(e).strip().splitlines()[-1] if str(e).strip() else e.__class__.__name__
                results.append(Failure(f"job {sub.job_id} ended without a result ({reason}; log "
                                       f"{sub.paths.stderr})"))
        return results
    except KeyboardInterrupt:
        for sub in submitted:
            sub.cancel(check=False)
        raise


class _Submitted:
    """What a submitit job runs: the job's call, inside torchrun's environment when the job has several processes;
    submitit's checkpoint hook requeues it (preemption, time limit) and the call resumes from last.pt."""

    def __init__(self, fn: Callable[..., Any], args: tuple, requeue_args: tuple | None):
        self.fn, self.args, self.requeue_args = fn, args, requeue_args

    def __call__(self) -> Any:
        import submitit

        env = submitit.JobEnvironment()
        if env.num_tasks > 1:
            os.environ.update(RANK=str(env.global_rank), WORLD_SIZE=str(env.num_tasks),
                              LOCAL_RANK=str(env.local_rank), MASTER_ADDR=env.hostnames[0],
                              MASTER_PORT=str(master_port(env.raw_job_id)))
        return self.fn(*self.args)

    def checkpoint(self):
        import submitit

        args = self.args if self.requeue_args is None else self.requeue_args
        return submitit.helpers.DelayedSubmission(_Submitted(self.fn, args, self.requeue_args))


def master_port(job_id: str) -> int:
    """A port every process of one job derives alike from its id (jobs sharing a node get different ones)."""
    digits = re.sub(r"\D", "", job_id) or "0"
    return 20000 + int(digits) % 20000


# --------------------------------------------------------------------------------------------------- training

def train(task: str, cfg: dict[str, Any], resume: bool | None) -> dict[str, Any]:
    """One training run as a job: `resume` None (a requeued job) resumes if the run has a last.pt."""
    from lifting.tasks import run_task

    if resume is None:
        resume = (Path(cfg["out_dir"]) / "last.pt").is_file()
    return run_task(task, cfg, resume=resume)


def launch_training(task: str, cfg: dict[str, Any], resume: bool, args: argparse.Namespace) -> dict[str, Any] | None:
    """A main_*.py training: here (`run_task`, as torchrun launches it), or as one Slurm job of `--nodes` x
    processes per node whose logs go to <out_dir>/slurm. Returns the results (None after a dry run)."""
    launcher = launcher_from_args(args, Path(cfg["out_dir"]) / "slurm")
    if launcher.kind == "local":
        return train(task, cfg, resume)
    name = f"{task}.{Path(cfg['out_dir']).name}"
    job = Job(name, train, (task, cfg, resume), f"train {task} into {cfg['out_dir']}", (task, cfg, None))
    out = run_jobs([job], replace(launcher, jobs=1))[0]
    if isinstance(out, Failure):
        raise UserError(f"{cfg['out_dir']}: {out.reason}")
    if isinstance(out, Path):
        log.info(f"dry run: {out}")
        return None
    return out

