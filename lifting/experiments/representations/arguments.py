"""The study's command line: the paper runner's options and its own."""

from __future__ import annotations

import argparse

from lifting.cli import add_option
from lifting.config import opt
from lifting.experiments import arguments as runner_args
from lifting.experiments.representations.design import EXPERIMENT, QUICK, STUDY_KEYS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--estimator", help="a trained main_metro.py run dir or checkpoint (default: train one)")
    p.add_argument("--estimator-config", help="config of the estimator trained without --estimator (default "
                                               "opts/metro_tiny.yaml, opts/metro_r50.yaml with --device cuda)")
    p.add_argument("--images", help="parsed Human3.6M images (COCO layout) covering the lifting frames (default: "
                                    "rendered by the built-in renderer)")
    add_option(p, "--image-stride", opt(int, 5, "every n-th training frame gets an image; the lifters train on these "
                                               "frames", minimum=1, maximum=100_000))
    add_option(p, "--test-stride", opt(int, 1, "every n-th test frame (1: all)", minimum=1, maximum=100_000))
    add_option(p, "--render-size", opt(int, 256, "longer side of the rendered images, px", minimum=16, maximum=4096))
    add_option(p, "--truncated-frames", opt(int, 2000, "test frames of the truncated slice (partial-body crops)",
                                            minimum=1, maximum=10_000_000))
    p.add_argument("--lsp-images", help="an LSP folder: joints.mat and images/im%%04d.jpg (LSP) or im%%05d.jpg "
                                        "(LSP-extended) (default: an LSP-layout set rendered from built-in poses)")
    add_option(p, "--lsp-count", opt(int, 1000, "images of the rendered LSP-layout set", minimum=1, maximum=1_000_000))
    add_option(p, "--pck-px", opt(float, 10.0, "threshold of the Human3.6M 2D PCK, px", exclusive_minimum=0,
                                  maximum=10_000))
    add_option(p, "--batch-size", opt(int, 64, "images per estimator batch", minimum=1, maximum=65_536))


def parse_args(argv=None) -> argparse.Namespace:
    p = runner_args.parser(EXPERIMENT)
    add_arguments(p)
    args = runner_args.parse_args(EXPERIMENT, argv, p)
    for text in args.set:
        key = text.split("=", 1)[0].strip()
        if key in STUDY_KEYS:
            p.error(f"--set {key}: set by the study itself (lifting frames: --image-stride / --test-stride)")
    if args.test_data_dir:
        p.error("--test-data-dir: the study renders both splits from --data-dir")
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, min(getattr(args, key), value))
    return args
