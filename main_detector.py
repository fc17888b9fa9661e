"""Train and evaluate the person detector (torchvision's FCOS, random init) on rendered multi-person scenes.

    python main_detector.py --opt opts/detector_tiny.yaml                      # CPU
    python main_detector.py --opt opts/detector_gpu.yaml                       # GPU
    python main_detector.py --opt opts/detector_tiny.yaml --set data_dir=../shared/data/h36m out_dir=runs/det
    python main_detector.py --opt opts/detector_tiny.yaml --resume             # continue the run in out_dir
"""

import sys

from lifting.cli import ArgumentParser, add_config_args, run_cli
from lifting.config import load_config
from lifting.engine.launchers import add_launcher_args, launch_training
from lifting.options.detector import SCHEMA


def run(argv: list[str] | None) -> int:
    parser = ArgumentParser(prog="main_detector.py", description=__doc__.splitlines()[0])
    add_config_args(parser)
    add_launcher_args(parser, multi_node=True)
    args = parser.parse_args(argv)
    cfg = load_config(SCHEMA, args.opt, args.set)
    res = launch_training("detector", cfg, args.resume, args)  # None after a dry run, {} on other ranks
    if res:
        print(f"{cfg['out_dir']}/results.json: AP50 {res['ap50']:.3f}, AP {res['ap']:.3f}, recall at IoU 0.5 "
              f"{res['recall50']:.3f} ({res['num_people']} people in {res['num_test_images']} test scenes)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
