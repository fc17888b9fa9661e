"""Train and evaluate a 2D-to-3D lifter on Human3.6M-layout data.

    python main_human36.py --opt opts/h36.yaml                  # 3D-supervised (Martinez et al.)
    python main_human36.py --opt opts/h36_rel.yaml              # relative depth (Ronchi et al.)
    python main_human36.py --opt opts/h36.yaml --set data_dir=DIR out_dir=runs/x epochs=5
    python main_human36.py --opt opts/h36.yaml --resume         # continue the run in out_dir
    python main_human36.py --opt opts/h36.yaml --launcher slurm --slurm-partition gpu   # README: On a cluster
"""

import sys

from lifting.cli import ArgumentParser, add_config_args, run_cli
from lifting.config import load_config
from lifting.engine.launchers import add_launcher_args, launch_training
from lifting.fileio import check_output_dir
from lifting.options.h36m import SCHEMA


def run(argv: list[str] | None) -> int:
    parser = ArgumentParser(prog="main_human36.py", description=__doc__.splitlines()[0])
    add_config_args(parser)
    add_launcher_args(parser)
    args = parser.parse_args(argv)
    cfg = load_config(SCHEMA, args.opt, args.set)
    check_output_dir(cfg["cache_dir"], "cache_dir")  # out_dir: checked by the training loop before any work
    res = launch_training("lifting", cfg, args.resume, args)
    if res is None:  # a dry run wrote the job script
        return 0
    print(f"{cfg['out_dir']}/results.json: MPJPE {res['mpjpe']:.1f} mm, N-MPJPE {res['n_mpjpe']:.1f} mm, "
          f"PA-MPJPE {res['pa_mpjpe']:.1f} mm (action-wise, {res['num_joints']} joints, {res['num_test_frames']} "
          "test frames)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
