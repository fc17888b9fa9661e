"""Export a trained lifter or estimator to ONNX or TorchScript, with its metadata inside (run it with run_exported.py).

    python export.py --ckpt runs/quickstart --format onnx --out lifter.onnx
    python export.py --ckpt runs/metro_tiny --format torchscript --out estimator.pt --stride 16

Lifter: joints2d_px (N, J, 2) px -> poses3d (N, J, 3) mm root-relative camera frame. Estimator: crops (N, 3, S, S)
RGB in [0, 1] -> pose3d_rel (N, 17, 3) mm and pose2d (N, 17, 2) crop px, at a fixed stride and crop size. ONNX
export needs `pip install 'lifting[export]'` (onnx; onnxruntime to run the file).
"""

import sys
from pathlib import Path

from lifting.cli import ArgumentParser, add_option, check_output, run_cli
from lifting.options.metro import SCHEMA


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="export.py", description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", type=Path, required=True, help="run directory or checkpoint (lifter or estimator)")
    p.add_argument("--format", choices=("onnx", "torchscript"), required=True, help="file format")
    p.add_argument("--out", type=Path, required=True, help="output file (.onnx, or .pt / .ts for TorchScript)")
    add_option(p, "--stride", SCHEMA["test_output_stride"], help="estimator output stride (default: the trained one)")
    return p


def run(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)
    check_output(args.out, "--out", (".onnx",) if args.format == "onnx" else (".pt", ".ts"))

    from lifting.export import export_model

    meta = export_model(args.ckpt, args.format, args.out, args.stride)
    if meta["kind"] == "lifter":
        what = (f"lifter {meta['input']['skeleton']} px -> {meta['output']['skeleton']} mm "
                f"({meta['output']['frame']})")
    else:
        what = f"estimator crops {meta['crop_size']} px at stride {meta['stride']} -> pose3d_rel mm, pose2d crop px"
    print(f"{args.out}: {args.format} {what}; metadata under '{'lifting' if args.format == 'onnx' else 'lifting.json'}'")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
