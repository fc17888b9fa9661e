"""The image models an experiment trains itself when it is given no run: their tiny configs, the `--quick`
settings that train and evaluate one in seconds, and how the experiment's command line overrides them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lifting.cli import ArgumentParser
from lifting.config import Schema, load_config
from lifting.engine.launchers import add_launcher_args
from lifting.options import detector as detector_options
from lifting.options import metro as metro_options
from lifting.options import rootnet as rootnet_options

OPTS = Path(__file__).resolve().parents[2] / "opts"
# kind (`checkpoint.KINDS`) -> (schema, tiny config, task)
MODELS: dict[str, tuple[Schema, str, str]] = {
    "estimator": (metro_options.SCHEMA, "metro_tiny.yaml", "metro"),
    "rootnet": (rootnet_options.SCHEMA, "rootnet_tiny.yaml", "rootnet"),
    "detector": (detector_options.SCHEMA, "detector_tiny.yaml", "detector")}
# The experiment's flags that go into every model's config (when given).
SHARED_FLAGS = ("data_dir", "train_subjects", "test_subjects", "cache_dir", "device")


def quick(kind: str, data_dir: str) -> dict[str, Any]:
    """Settings that train and evaluate a `kind` model in seconds on one thread (real data thinned)."""
    synthetic = data_dir == "synthetic"
    out = {"iterations": 2, "synthetic_size": "tiny", "stride": 1 if synthetic else 100,
           "test_stride": 1 if synthetic else 500, "train_subjects": [1], "threads": 1, "tensorboard": False,
           "progress": False, "log_every": 1, "checkpoint_every": None, "max_train_minutes": None}
    if kind == "detector":
        return {**out, "batch_size": 2, "eval_batch_size": 4, "image_width": 128, "image_height": 96,
                "backbone": "mobilenet_v3_small", "warmup_steps": 1, "scenes_per_epoch": 4, "test_scenes": 2,
                "max_people": 3}
    out.update(crop_size=64, batch_size=4, eval_batch_size=8, max_test_crops=8)
    return {**out, **({"abs_start": 0, "weak_steps": 1} if kind == "estimator" else {"head_channels": 16})}


def model_config(kind: str, args: argparse.Namespace, out_dir: Path, **fixed: Any) -> dict[str, Any]:
    """The config of the `kind` run trained into `out_dir`: its tiny config <- `quick` (with --quick) <- the
    command line's `SHARED_FLAGS` <- `fixed` keys; the --set items whose key this model's schema has apply last."""
    schema, opt_file = MODELS[kind][:2]
    extra = {key: getattr(args, key) for key in SHARED_FLAGS if getattr(args, key) is not None}
    if args.quick:
        extra = {**quick(kind, args.data_dir or schema["data_dir"].default), **extra}
    sets = [s for s in args.set if s.split("=", 1)[0].strip() in schema]
    return load_config(schema, OPTS / opt_file, sets, {**extra, **fixed, "out_dir": str(out_dir)})


def add_run_options(p: ArgumentParser, name: str, quick_help: str) -> None:
    """The options of an experiment that trains its image models itself: where results go, the data cache, the
    device, --quick (`quick_help`: what it does), --set and the launcher's."""
    p.add_argument("--results-dir", default="results", help=f"where results/{name}/ goes (default results)")
    p.add_argument("--cache-dir", help="processed-data cache (default: the schemas')")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="device of training and evaluation")
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="config override for the runs trained here (applied to each config that has the key)")
    add_launcher_args(p)


def parse_runs(p: ArgumentParser, argv: list[str] | None, kinds: tuple[str, ...]) -> argparse.Namespace:
    """Parse; every --set item must be KEY=VALUE with a config key of one of `kinds`' models (else a one-line
    error)."""
    args = p.parse_args(argv)
    scripts = [f"main_{MODELS[kind][2]}.py" for kind in kinds]
    for text in args.set:
        key = text.split("=", 1)[0].strip()
        if "=" not in text or not any(key in MODELS[kind][0] for kind in kinds):
            p.error(f"--set {text!r}: expected KEY=VALUE with a config key of {', '.join(scripts[:-1])} or "
                    f"{scripts[-1]}")
    return args
