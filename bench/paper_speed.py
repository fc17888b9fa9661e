"""Benchmark: how fast the paper experiments train, against what the machine's matrix multiplies allow.

    python bench/paper_speed.py --data-dir ../shared/data/h36m [--train-subjects 1,5,6,7,8] [--steps 400]
                                [--threads 2] [--cache-dir DIR]

Prints, for the paper schedule (1 residual block of 1024, batch 64):
- the matrix-multiply limit: GFLOP/s of (64 x 1024) @ (1024 x 1024) and (512 x 1024) @ (1024 x 1024) float32 on
  `--threads` threads, and the training samples/s it would allow at the model's FLOPs per sample;
- samples/s of every Table 1 row trained alone and of the seven rows trained stacked (per row and aggregate),
  each over `--steps` steps of the real training loop, and the share of the matmul limit reached;
- the same rows as `--threads` lone runs at once with one thread each (the runner's `--jobs N` on a CPU);
- one epoch of all seven Table 1 rows on the training subjects, one after another, stacked, and as `--jobs N`;
- the projected hours of every paper experiment at the paper's epochs on those subjects, at the fastest of the
  three rates (LSP-only rows of Fig. 5 on 11,000 samples; evaluation-only rows cost nothing; a training with the
  config and seed of one an earlier experiment ran is reused by the runner, so it counts once).
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch

from lifting.cli import ArgumentParser, add_option, run_cli
from lifting.config import opt
from lifting.experiments.training import training_signature

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = ("table_1", "table_2", "fig_1d", "fig_4ab", "fig_4c_test_noise", "fig_4c_train_test_noise", "fig_4d",
               "fig_5")
LSP_SAMPLES = 11_000


def matmul_gflops(rows: int, seconds: float = 1.0) -> float:
    a, b = torch.randn(rows, 1024), torch.randn(1024, 1024)
    for _ in range(5):
        a @ b
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        n += 1
    return 2 * rows * 1024 * 1024 * n / (time.perf_counter() - t0) / 1e9


def train_flops_per_sample(cfg: dict) -> float:
    """Forward + backward (3x forward) multiply-adds x 2 of the lifter's linear layers."""
    from lifting.models.linear import build_lifter

    model = build_lifter(cfg)
    macs = sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear))
    return 3 * 2 * macs


def experiment(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "paper_exps" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.EXPERIMENT


def row_configs(name: str, argv: list[str]) -> list[tuple]:
    from lifting.experiments.arguments import parse_args
    from lifting.experiments.experiment import row_config

    exp = experiment(name)
    args = parse_args(exp, argv)
    return [(row, row_config(exp, row, args, 0)) for row in exp.rows]


def _lone_rate(cfg: dict) -> float:
    from lifting.tasks import run_task

    return run_task("lifting", cfg)["train_samples_per_s"]


def run(argv: list[str] | None) -> int:
    p = ArgumentParser(prog="bench/paper_speed.py", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--train-subjects", default="1,5,6,7,8", help="passed to the runner's --train-subjects")
    p.add_argument("--cache-dir")
    add_option(p, "--steps", opt(int, 400, "timed training steps per measurement", minimum=1, maximum=10 ** 6))
    add_option(p, "--threads", opt(int, 2, "CPU threads (and lone runs at once)", minimum=1, maximum=256))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    from lifting.tasks import run_stacked, run_task
    from lifting.tasks.lifting import load_split

    work = Path(tempfile.mkdtemp(prefix="paper_speed_"))
    # Evaluation is not timed: it runs once, on the tiny built-in test subject 9.
    data = ["--data-dir", a.data_dir, "--train-subjects", a.train_subjects, "--test-subjects", "9"]
    data += ["--cache-dir", a.cache_dir] if a.cache_dir else []
    data += ["--test-data-dir", "synthetic"] if a.data_dir != "synthetic" else []
    timing = [f"iterations={a.steps}", f"threads={a.threads}", "synthetic_size=tiny", "tensorboard=false",
              "progress=false"]
    rows = row_configs("table_1", [*data, "--results-dir", str(work), "--set", *timing])
    flops = train_flops_per_sample(rows[0][1])
    g64, g512 = matmul_gflops(64), matmul_gflops(512)
    limit = g64 * 1e9 / flops
    print(f"matmul limit ({a.threads} threads): {g64:.0f} GFLOP/s at 64 rows, {g512:.0f} at 512 rows; "
          f"{flops / 1e6:.1f} MFLOP per training sample -> {limit:.0f} samples/s at 64 rows")

    alone = {}
    for row, cfg in rows:
        res = run_task("lifting", {**cfg, "out_dir": str(work / "alone" / row.name)})
        alone[row.name] = res["train_samples_per_s"]
        print(f"  alone   {row.name:8s} {res['train_samples_per_s']:7.0f} samples/s "
              f"({100 * res['train_samples_per_s'] / limit:.0f} % of the limit)")
    out = run_stacked([{**cfg, "out_dir": str(work / "stacked" / row.name)} for row, cfg in rows],
                      str(work / "stacked" / "group"))
    per_row = out[0]["results"]["train_samples_per_s"]
    stacked = per_row * len(rows)
    print(f"  stacked {len(rows)} rows: {per_row:.0f} samples/s per row, {stacked:.0f} aggregate "
          f"({100 * stacked / limit:.0f} % of the limit)")
    # The runner's --jobs N: N lone runs at once, threads split between them (one each here).
    lone = [(row, {**cfg, "threads": 1, "out_dir": str(work / "parallel" / row.name)})
            for row, cfg in rows[:a.threads]]
    with ProcessPoolExecutor(a.threads, mp_context=get_context("spawn")) as pool:
        rates = list(pool.map(_lone_rate, [cfg for _, cfg in lone]))
    parallel = sum(rates)
    print(f"  {a.threads} lone runs at once, 1 thread each ({', '.join(r.name for r, _ in lone)}): "
          f"{' + '.join(f'{r:.0f}' for r in rates)} = {parallel:.0f} samples/s aggregate "
          f"({100 * parallel / limit:.0f} % of the limit)")

    n_train = {}

    def samples(cfg: dict) -> int:
        key = (cfg["data_dir"], tuple(cfg["train_subjects"]), cfg["stride"], cfg["skeleton"], tuple(cfg["cameras"]))
        if key not in n_train:
            n_train[key] = len(load_split(cfg, train=True))
        return int(n_train[key] * cfg["amt_train_data"])

    n = samples(rows[0][1])
    mean_alone = len(alone) / sum(1 / r for r in alone.values())
    print(f"one epoch of the 7 Table 1 rows on subjects {a.train_subjects} ({n:,} samples): "
          f"{n * len(rows) / mean_alone:.0f} s one after another, {n * len(rows) / stacked:.0f} s stacked, "
          f"{n * len(rows) / parallel:.0f} s as --jobs {a.threads}")
    best = max(("one after another", mean_alone), ("stacked", stacked), (f"--jobs {a.threads}", parallel),
               key=lambda x: x[1])
    total = alone_total = 0.0
    trained_before: set[str] = set()
    print(f"projected hours at the paper's epochs (training only, {best[0]}: {best[1]:.0f} samples/s; LSP-only "
          f"rows on {LSP_SAMPLES:,} samples; a training an earlier experiment already ran is reused, not repeated):")
    for name in EXPERIMENTS:
        trained = [(row, cfg) for row, cfg in row_configs(name, [*data, "--results-dir", str(work)])
                   if not cfg["eval_only"]]
        seconds = [cfg["epochs"] * (LSP_SAMPLES if row.entry == "lsp" else samples(cfg)) / best[1]
                   for row, cfg in trained]
        keys = [repr(sorted(training_signature(cfg).items())) for _, cfg in trained]
        new = [t for t, k in zip(seconds, keys) if k not in trained_before]
        trained_before.update(keys)
        total, alone_total = total + sum(new), alone_total + sum(seconds)
        print(f"  {name:24s} {sum(new) / 3600:5.2f} h  ({len(new)} trainings; {sum(seconds) / 3600:.2f} h for all "
              f"{len(trained)} when run on its own)")
    print(f"  all eight experiments    {total / 3600:5.2f} h  ({alone_total / 3600:.2f} h if each trained every row "
          "itself)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
