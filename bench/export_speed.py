"""Speed of the exported models against eager PyTorch on CPU threads: lifter poses/s, estimator crops/s.

    python bench/export_speed.py --lifter runs/quickstart --estimator runs/metro_tiny
    python bench/export_speed.py --lifter runs/quickstart --estimator runs/metro_tiny --threads 2 --seconds 3

Exports both run dirs to ONNX and TorchScript in a temporary folder, then times eager PyTorch (eval mode,
inference_mode), TorchScript and onnxruntime (CPUExecutionProvider, intra-op threads = --threads) on the same
random inputs: lifter batches of 1 and 1024 poses, estimator batches of 1 and 8 crops at the trained crop size.
Each configuration runs warm-up calls, then as many calls as fit in --seconds. Prints one table.
"""

import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from lifting.cli import ArgumentParser, add_option, run_cli
from lifting.config import opt
from lifting.export import export_model, load_exportable


def rate(call, batch: int, seconds: float) -> float:
    """Items per second of call() over about `seconds`, after 3 warm-up calls."""
    for _ in range(3):
        call()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        call()
        n += 1
    return batch * n / (time.perf_counter() - t0)


def runners(path: Path, graph: torch.nn.Module, threads: int, folder: Path) -> dict:
    """name -> (numpy input -> outputs) for eager PyTorch, TorchScript and ONNX (if onnxruntime is installed)."""
    out = {"eager": lambda x: graph(torch.from_numpy(x))}
    ts = folder / f"{path.name}.pt"
    export_model(path, "torchscript", ts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        script = torch.jit.load(str(ts))
    out["torchscript"] = lambda x: script(torch.from_numpy(x))
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not installed: ONNX rows skipped")
        return out
    onnx_path = folder / f"{path.name}.onnx"
    export_model(path, "onnx", onnx_path)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    out["onnxruntime"] = lambda x: session.run(None, {name: x})
    return out


def run(argv: list[str] | None) -> int:
    p = ArgumentParser(prog="bench/export_speed.py", description=__doc__.splitlines()[0])
    p.add_argument("--lifter", type=Path, required=True, help="lifter run dir or checkpoint")
    p.add_argument("--estimator", type=Path, required=True, help="estimator run dir or checkpoint")
    add_option(p, "--threads", opt(int, 2, "CPU threads for torch and onnxruntime", minimum=1, maximum=256))
    add_option(p, "--seconds", opt(float, 2.0, "timed seconds per configuration", exclusive_minimum=0, maximum=3600))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        for kind, path, batches in (("lifter", args.lifter, (1, 1024)), ("estimator", args.estimator, (1, 8))):
            graph, example, meta = load_exportable(path)
            shape = tuple(example.shape[1:])
            for name, run in runners(path, graph, args.threads, Path(tmp)).items():
                for b in batches:
                    x = (rng.normal(0, 100, (b, *shape)) if kind == "lifter" else rng.uniform(0, 1, (b, *shape)))
                    rows.append((kind, name, b, rate(lambda run=run, x=x.astype(np.float32): run(x), b, args.seconds)))
    unit = {"lifter": "poses/s", "estimator": "crops/s"}
    print(f"CPU, {args.threads} threads, torch {torch.__version__}")
    print("| model | runtime | batch | items/s |\n|---|---|---|---|")
    for kind, name, b, r in rows:
        print(f"| {kind} | {name} | {b} | {r:,.0f} {unit[kind]} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
