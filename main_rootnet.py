"""Train, evaluate and run RootNet (RGB person crop + distance prior k -> absolute root position in mm).

    python main_rootnet.py --opt opts/rootnet_tiny.yaml                      # CPU: 128 px, ResNet-18
    python main_rootnet.py --opt opts/rootnet_r50.yaml                       # GPU: 256 px, ResNet-50
    torchrun --nproc_per_node=2 main_rootnet.py --opt opts/rootnet_r50.yaml  # DistributedDataParallel
    python main_rootnet.py --opt opts/rootnet_tiny.yaml --resume             # continue the run in out_dir
    python main_rootnet.py --opt opts/rootnet_tiny.yaml --set load=RUN_DIR --predict DATASET_DIR --out roots.npz
"""

import sys

from lifting.cli import ArgumentParser, add_config_args, run_cli
from lifting.config import load_config
from lifting.engine.launchers import add_launcher_args, launch_training
from lifting.inference.predict import add_predict_args, check_predict, predict_to_file
from lifting.options.rootnet import SCHEMA


def run(argv: list[str] | None) -> int:
    parser = ArgumentParser(prog="main_rootnet.py", description=__doc__.splitlines()[0])
    add_config_args(parser)
    add_predict_args(parser, "root positions")
    add_launcher_args(parser, multi_node=True)
    args = parser.parse_args(argv)
    cfg = load_config(SCHEMA, args.opt, args.set)
    if check_predict(args, cfg):
        print(predict_to_file("rootnet", cfg, args.predict, args.out, args.subjects))
        return 0

    res = launch_training("rootnet", cfg, args.resume, args)  # None after a dry run, {} on other ranks
    if res:
        print(f"{cfg['out_dir']}/results.json: MRPE {res['mrpe']:.1f} mm (x {res['mrpe_x']:.1f}, y {res['mrpe_y']:.1f}, "
              f"z {res['mrpe_z']:.1f}), k prior alone {res['prior_mrpe']:.1f} mm, AP_root@25cm "
              f"{100 * res['ap_root25']:.1f} %, truncated crops {res['mrpe_truncated']:.1f} mm "
              f"({res['num_test_crops']} test crops)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
