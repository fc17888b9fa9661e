"""Benchmark: how fast the paper experiments train, against what the machine's matrix multiplies allow.

    python bench/paper_speed.py --data-dir ../shared/data/h36m [--train-subjects 1,5,6,7,8] [--steps 400]
                                [--threads 2] [--cache-dir DIR]

Prints, for the paper schedule (1 residual block of 1024, batch 64):
- the matrix-multiply limit: GFLOP/s of (64 x 1024) @ (1024 x 1024) and (512 x 1024) @ (1024 x 1024) float32 on
  `--threads` threads, and the training samples/s it would allow at the model's FLOPs per sample;
- samples/s of every Table 1 row trained alone and of the seven rows trained stacked (per row and aggregate),
  each over `--steps` steps of the real training loop, and the share of the matmul limit reached;
- one epoch of all seven Table 1 rows on the training subjects, alone one after the other and stacked;
- the projected hours of every paper experiment at the paper's epochs on those subjects, with the runner's
  grouping (stacked groups and lone runs); a group of K runs costs a + b K per step (a, b fitted from the lone
  and the 7-run measurements). LSP-only rows (Fig. 5) are projected at the lone rate on 11,000 samples.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path

import torch

from lifting.config import ArgumentParser
from lifting.errors import run_cli

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
    from lifting.lifter import build_lifter

    model = build_lifter(cfg)
    macs = sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear))
    return 3 * 2 * macs


def experiment(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "paper_exps" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.EXPERIMENT


def row_configs(name: str, argv: list[str]) -> list[tuple]:
    from lifting.experiments.runner import parse_args, row_config

    exp = experiment(name)
    args = parse_args(exp, argv)
    return [(row, row_config(exp, row, args, 0)) for row in exp.rows]


def main() -> int:
    p = ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--train-subjects", default="1,5,6,7,8")
    p.add_argument("--cache-dir")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    from lifting.tasks import run_stacked, run_task
    from lifting.tasks.lifting import load_split
    from lifting.tasks.stacked_lifting import stack_key

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
    aggregate = per_row * len(rows)
    print(f"  stacked {len(rows)} rows: {per_row:.0f} samples/s per row, {aggregate:.0f} aggregate "
          f"({100 * aggregate / limit:.0f} % of the limit)")

    batch = rows[0][1]["batch_size"]
    step_alone = batch / (sum(alone.values()) / len(alone))   # s per step, one run
    step_k = batch / per_row                                    # s per step, K runs
    b = (step_k - step_alone) / (len(rows) - 1)
    base = step_alone - b
    n_train = {}

    def samples(cfg: dict) -> int:
        key = (cfg["data_dir"], tuple(cfg["train_subjects"]), cfg["stride"], cfg["skeleton"], tuple(cfg["cameras"]))
        if key not in n_train:
            n_train[key] = len(load_split(cfg, train=True))
        return int(n_train[key] * cfg["amt_train_data"])

    n = samples(rows[0][1])
    epoch_alone = sum(n / r for r in alone.values())
    print(f"one epoch of the 7 Table 1 rows on subjects {a.train_subjects} ({n:,} samples): "
          f"{epoch_alone:.0f} s alone one after another, {n * len(rows) / aggregate:.0f} s stacked")

    total = 0.0
    print("projected hours at the paper's epochs (training only):")
    for name in EXPERIMENTS:
        groups: dict = {}
        seconds = 0.0
        for row, cfg in row_configs(name, [*data, "--results-dir", str(work)]):
            if row.entry == "lsp":
                seconds += 0 if cfg["eval_only"] else cfg["epochs"] * LSP_SAMPLES / (batch / step_alone)
                continue
            if cfg["eval_only"]:
                continue
            key = stack_key(cfg)
            groups.setdefault(key if key is not None else id(cfg), []).append(cfg)
        for members in groups.values():
            cfg = members[0]
            steps = cfg["epochs"] * (samples(cfg) // cfg["batch_size"] or 1)
            seconds += steps * (base + b * len(members)) * cfg["batch_size"] / batch
        total += seconds
        sizes = sorted((len(m) for m in groups.values()), reverse=True)
        print(f"  {name:24s} {seconds / 3600:5.2f} h  (groups of {sizes})")
    print(f"  all eight experiments    {total / 3600:5.2f} h")
    return 0


if __name__ == "__main__":
    run_cli(main)
