"""Train, evaluate and run the MeTRo/MeTRAbs image estimator (RGB person crop -> metric 3D pose).

    python main_metro.py --opt opts/metro_tiny.yaml                      # CPU: 128 px, ResNet-18
    python main_metro.py --opt opts/metro_r50.yaml                       # GPU: 256 px, ResNet-50
    torchrun --nproc_per_node=2 main_metro.py --opt opts/metro_r50.yaml  # DistributedDataParallel
    python main_metro.py --opt opts/metro_r50.yaml --launcher slurm --nodes 2 --gpus-per-node 4   # README: On a cluster
    python main_metro.py --opt opts/metro_tiny.yaml --resume             # continue the run in out_dir
    python main_metro.py --opt opts/metro_tiny.yaml --set load=RUN_DIR --predict DATASET_DIR --out preds.npz
"""

import sys

from lifting.cli import ArgumentParser, add_config_args, run_cli
from lifting.config import load_config
from lifting.engine.launchers import add_launcher_args, launch_training
from lifting.fileio import check_output_dir
from lifting.inference.predict import add_predict_args, check_predict, predict_to_file
from lifting.options.metro import SCHEMA


def run(argv: list[str] | None) -> int:
    parser = ArgumentParser(prog="main_metro.py", description=__doc__.splitlines()[0])
    add_config_args(parser)
    add_predict_args(parser, "2D and 3D poses")
    add_launcher_args(parser, multi_node=True)
    args = parser.parse_args(argv)
    cfg = load_config(SCHEMA, args.opt, args.set)
    if check_predict(args, cfg):
        print(predict_to_file("estimator", cfg, args.predict, args.out, args.subjects))
        return 0

    check_output_dir(cfg["cache_dir"], "cache_dir")  # out_dir: checked by the training loop before any work
    res = launch_training("metro", cfg, args.resume, args)  # None after a dry run, {} on other ranks
    if res:
        print(f"{cfg['out_dir']}/results.json: MPJPE {res['mpjpe']:.1f} mm (mean pose {res['mean_pose_mpjpe']:.1f}), "
              f"PA-MPJPE {res['pa_mpjpe']:.1f} mm, truncated crops {res['mpjpe_truncated_all']:.1f} mm all joints / "
              f"{res['mpjpe_truncated_in_crop']:.1f} mm in crop, MRPE {res['mrpe']:.1f} mm "
              f"({res['num_test_crops']} test crops)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
