"""Inference speed of the MeTRo model: crops/s for output stride x batch size x precision.

    python bench/metro_speed.py                       # CUDA: ResNet-50, 256 px, strides 32 16, batches 1 8 64, fp32 bf16
    python bench/metro_speed.py --json out/speed.json # also write the table as JSON
On a machine without CUDA it prints that CUDA is unavailable and times a tiny CPU subset (ResNet-18, 128 px,
batch 1 and 2, fp32), so the script itself is exercised. Timings: warm-up iterations first, then
torch.cuda.synchronize() around a timed loop; the model runs in eval mode under torch.inference_mode, channels-last.
"""

import json
import sys
import time
from pathlib import Path

import torch

from lifting.cli import ArgumentParser, add_option, run_cli
from lifting.config import opt
from lifting.models.metro import MetroNet


def time_config(model: MetroNet, batch: int, size: int, dtype: torch.dtype | None, device: torch.device,
                warmup: int, iters: int, channels_last: bool) -> float:
    """Crops per second of model(images) incl. decoding, for one batch size and precision."""
    x = torch.rand(batch, 3, size, size, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        for _ in range(warmup):
            model(x)
        sync()
        t0 = time.perf_counter()
        for _ in range(iters):
            model(x)
        sync()
        elapsed = time.perf_counter() - t0
    return batch * iters / elapsed


def run(argv: list[str] | None) -> int:
    p = ArgumentParser(prog="bench/metro_speed.py", description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="resnet50")
    add_option(p, "--size", opt(int, 256, "crop size, px", minimum=32, maximum=4096))
    add_option(p, "--strides", opt(list, [32, 16], "output strides to time", item=int, choices=(8, 16, 32),
                                   nonempty=True))
    add_option(p, "--batches", opt(list, [1, 8, 64], "batch sizes to time", item=int, nonempty=True, minimum=1,
                                   maximum=4096))
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    add_option(p, "--seconds", opt(float, 2.0, "approximate timed seconds per configuration", exclusive_minimum=0,
                                   maximum=3600))
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)

    cuda = torch.cuda.is_available()
    if cuda:
        device = torch.device("cuda")
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(0)
    else:
        print("CUDA is unavailable: timing a tiny CPU subset (resnet18, 128 px, batch 1 and 2, fp32) only")
        torch.set_num_threads(2)
        device, name = torch.device("cpu"), "cpu"
        args.backbone, args.size, args.batches, args.precisions = "resnet18", 128, [1, 2], ["fp32"]
        args.strides = args.strides[:2]
    rows = []
    print(f"device: {name}; backbone {args.backbone}, {args.size} px crops")
    print("| stride | batch | precision | crops/s | ms/batch |")
    print("|---|---|---|---|---|")
    for stride in args.strides:
        model = MetroNet(args.backbone, stride=stride, crop_size=args.size).to(device).eval()
        if cuda:
            model = model.to(memory_format=torch.channels_last)
        for precision in args.precisions:
            dtype = torch.bfloat16 if precision == "bf16" else None
            for batch in args.batches:
                probe = time_config(model, batch, args.size, dtype, device, warmup=3, iters=3, channels_last=cuda)
                iters = max(3, int(args.seconds * probe / batch))
                rate = time_config(model, batch, args.size, dtype, device, warmup=5, iters=iters, channels_last=cuda)
                rows.append({"stride": stride, "batch": batch, "precision": precision, "crops_per_s": rate,
                             "ms_per_batch": 1000 * batch / rate})
                print(f"| {stride} | {batch} | {precision} | {rate:.1f} | {1000 * batch / rate:.2f} |", flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"device": name, "backbone": args.backbone, "size": args.size,
                                               "rows": rows}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
