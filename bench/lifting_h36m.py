"""Benchmark: train + evaluate a lifter on a data dir and print accuracy and speed figures.

    python bench/lifting_h36m.py --data-dir ../shared/data/h36m --train 1,5,6,7 --test 8 [--opt opts/h36.yaml] [--set k=v ...]

Prints MPJPE / N-MPJPE / PA-MPJPE (action-wise and frame-wise, mm), training samples/s, seconds per
epoch, the share of training time spent outside the model step, and the MPJPE-versus-minutes curve.
"""

import sys

from lifting.cli import ArgumentParser, add_option, run_cli
from lifting.config import load_config
from lifting.options.h36m import SCHEMA


def run(argv: list[str] | None) -> int:
    p = ArgumentParser(prog="bench/lifting_h36m.py", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="synthetic")
    add_option(p, "--train", SCHEMA["train_subjects"], default=[1, 5, 6, 7], metavar="S,S")
    add_option(p, "--test", SCHEMA["test_subjects"], default=[8], metavar="S,S")
    p.add_argument("--opt", default="opts/h36.yaml")
    p.add_argument("--out", default="runs/bench_lifting")
    p.add_argument("--set", nargs="*", default=[])
    a = p.parse_args(argv)
    cfg = load_config(SCHEMA, a.opt, [f"data_dir={a.data_dir}", f"train_subjects={a.train}".replace(" ", ""),
                                      f"test_subjects={a.test}".replace(" ", ""), f"out_dir={a.out}", "progress=false",
                                      *a.set])
    from lifting.tasks import run_task

    r = run_task("lifting", cfg)
    c = r["config"]
    print(f"model={c['model']} skeleton={c['skeleton']} data={c['data_dir']} train={c['train_subjects']} "
          f"test={c['test_subjects']} epochs={c['epochs']} batch={c['batch_size']} lr={c['lr']} ({c['lr_schedule']})")
    print(f"MPJPE {r['mpjpe']:.1f} mm | N-MPJPE {r['n_mpjpe']:.1f} mm | PA-MPJPE {r['pa_mpjpe']:.1f} mm (action-wise); "
          f"frame-wise {r['mpjpe_framewise']:.1f} / {r['n_mpjpe_framewise']:.1f} / {r['pa_mpjpe_framewise']:.1f}")
    print(f"train {r['train_seconds'] / 60:.1f} min, {r['train_samples_per_s']:.0f} samples/s, "
          f"{r['train_seconds'] / max(1, r['epochs_run']):.1f} s/epoch, outside-step share "
          f"{100 * r['outside_step_fraction']:.1f} %, {r['num_train_samples']} train samples, "
          f"{r['num_test_frames']} test frames")
    print("curve (minutes: MPJPE/PA-MPJPE): " + ", ".join(
        f"{pt['minutes']:.1f}: {pt['mpjpe']:.1f}/{pt['pa_mpjpe']:.1f}" for pt in r["curve"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
