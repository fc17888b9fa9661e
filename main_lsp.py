"""Relative-depth lifting on LSP: train on crowd depth-order labels, fine-tune or evaluate a 14-joint model.

    python main_lsp.py --opt opts/lsp.yaml                                   # train from scratch (100 epochs)
    python main_lsp.py --opt opts/lsp.yaml --set load=runs/h36m_rel_14 epochs=25 limb_type=avg_human36
    python main_lsp.py --opt opts/lsp.yaml --set load=runs/h36m_sup_14 eval_only=true
    python main_lsp.py --opt opts/lsp.yaml --resume                          # continue the run in out_dir

Needs the 'Relative Depth LSP Dataset' label file relative_depth_lsp_v1.json (key rel_depth_json).
"""

import sys

from lifting.cli import ArgumentParser, add_config_args, run_cli
from lifting.config import load_config
from lifting.engine.launchers import add_launcher_args, launch_training
from lifting.options.lsp import SCHEMA


def run(argv: list[str] | None) -> int:
    parser = ArgumentParser(prog="main_lsp.py", description=__doc__.splitlines()[0])
    add_config_args(parser)
    add_launcher_args(parser)
    args = parser.parse_args(argv)
    cfg = load_config(SCHEMA, args.opt, args.set)
    res = launch_training("lsp", cfg, args.resume, args)
    if res is None:  # a dry run wrote the job script
        return 0
    print(f"{cfg['out_dir']}/results.json: LSP test depth-order accuracy {100 * res['pair_accuracy']:.1f} % "
          f"({res['num_test_pairs']} pairs on {res['num_test_images']} images; best {100 * res['best_pair_accuracy']:.1f} %)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
