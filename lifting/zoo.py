"""The model zoo: small trained models in checkpoint/, each recorded in checkpoint/manifest.json with its SHA-256,
kind, precision, training data, config, retraining command and card numbers.

A zoo name works wherever a run directory does (`lifting.checkpoint.load_trained` resolves it), so the scripts'
`--ckpt NAME` and the configs' `load=NAME` need nothing of their own. A zoo file holds only what `load_trained`
needs (weights, normalisation statistics, config, kind), in float16 where that changes the model's results by
less than `TOLERANCE` of its headline metrics (measured by the caller); loading upcasts to float32.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any

from lifting.errors import UserError
from lifting.fileio import atomic_write, write_json

log = logging.getLogger("lifting")

ZOO_DIR = Path(__file__).resolve().parents[1] / "checkpoint"
"""Where the zoo files and manifest.json live (the repository's checkpoint/ folder)."""
MAX_FILE_BYTES = 10 * 2**20
MAX_TOTAL_BYTES = 40 * 2**20
RENDERED_LABEL = "trained on rendered mannequins; for photographs, train on your own data"
HEADLINE = {"lifter": ("mpjpe", "pa_mpjpe"), "estimator": ("mpjpe", "pa_mpjpe"), "rootnet": ("mrpe",),
            "detector": ("ap50", "ap")}
"""Per kind, the results.json metrics a card shows and float16 storage must leave unchanged."""
TOLERANCE = {"lifter": 0.1, "estimator": 0.1, "rootnet": 0.1, "detector": 0.001}
"""Per kind, the largest change of a headline metric float16 weights may cause (mm; AP for detectors)."""


def manifest_path() -> Path:
    return ZOO_DIR / "manifest.json"


def manifest() -> dict[str, dict[str, Any]]:
    """{name: entry} of checkpoint/manifest.json ({} where there is none yet)."""
    path = manifest_path()
    if not path.is_file():
        return {}
    try:
        models = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: not a readable zoo manifest ({e.__class__.__name__})") from None
    if not isinstance(models, dict):
        raise UserError(f"{path}: expected a JSON object of zoo models by name")
    return models


def names() -> list[str]:
    return sorted(manifest())


def card(name: str) -> dict[str, Any]:
    """The manifest entry of zoo model `name`; an unknown name is one line listing the known ones."""
    models = manifest()
    if name not in models:
        raise UserError(f"{name}: not a model of the zoo ({manifest_path().name} lists "
                        f"{', '.join(sorted(models)) or 'none yet'})")
    return models[name]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve(name: str) -> Path:
    """The file of zoo model `name`, after checking it against the manifest's SHA-256 (a missing or changed file
    is one line); a model with a label (rendered training data) logs it as a warning."""
    entry = card(name)
    path = ZOO_DIR / entry["file"]
    if not path.is_file():
        raise UserError(f"zoo model {name}: its file {path} is missing; restore it from the repository or re-pack it "
                        f"(python bench/zoo.py {name})")
    digest = sha256(path)
    if digest != entry["sha256"]:
        raise UserError(f"zoo model {name}: {path} has SHA-256 {digest[:16]}..., the manifest records "
                        f"{entry['sha256'][:16]}...; the file is damaged or was replaced (re-pack it with "
                        f"python bench/zoo.py {name})")
    if entry.get("label"):
        log.warning("zoo model %s: %s", name, entry["label"])
    return path


def load_pretrained(name: str, device: str = "cpu"):
    """The zoo model `name` as a `lifting.checkpoint.Trained` (eval mode, float32, on `device`)."""
    from lifting.checkpoint import load_trained

    return load_trained(resolve(name), card(name)["kind"], device)


def _holds_tensors(value: Any) -> bool:
    import torch

    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, dict):
        return any(_holds_tensors(v) for v in value.values())
    return isinstance(value, (list, tuple)) and any(_holds_tensors(v) for v in value)


def packed_state(source: str | Path, kind: str, precision: str) -> dict[str, Any]:
    """What `load_trained` needs of a run directory or checkpoint of `kind`: the weights it loads (the weight average where
    the run kept one), in `precision` ('float32' or 'float16'), the config and the task state without its
    tensors (those are training state: data order, the weight average, counters); no optimiser, RNG or history."""
    import torch

    from lifting.checkpoint import load_trained

    if precision not in ("float32", "float16"):
        raise ValueError(f"precision {precision!r}")
    trained = load_trained(source, kind)
    dtype = getattr(torch, precision)
    weights = {k: v.to(dtype) if v.is_floating_point() else v for k, v in trained.model.state_dict().items()}
    task = {k: v for k, v in trained.task.items() if not _holds_tensors(v)}
    return {"kind": trained.kind, "precision": precision, "model": weights,
            "extra": {"config": trained.checkpoint["extra"]["config"], "task": task}}


def _packed_bytes(source: str | Path, kind: str, precision: str, limit: bool = True) -> bytes:
    """`packed_state(source, kind, precision)` serialised; with `limit`, refused in one line above MAX_FILE_BYTES."""
    import torch

    buffer = io.BytesIO()
    torch.save(packed_state(source, kind, precision), buffer)
    if limit and buffer.tell() > MAX_FILE_BYTES:
        raise UserError(f"{source}: packed in {precision} it takes {buffer.tell() / 2**20:.1f} MiB; a zoo file may "
                        f"take at most {MAX_FILE_BYTES / 2**20:.1f} MiB")
    return buffer.getvalue()


def write_packed(source: str | Path, path: str | Path, kind: str, precision: str) -> Path:
    """`packed_state(source, kind, precision)` saved to `path` (atomically) to evaluate it before packing: a float32
    pack over the zoo's size limit is still measured, since it decides whether float16 may be shipped."""
    data = _packed_bytes(source, kind, precision, limit=False)
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def choose_precision(kind: str, evaluations: dict[str, dict[str, Any]]) -> tuple[str, float]:
    """('float16' where the float16 pack's headline metrics are within TOLERANCE[kind] of the float32 pack's, else
    'float32'; the largest change), from both packs' results on the same test data."""
    change = max(abs(float(evaluations["float16"][k]) - float(evaluations["float32"][k])) for k in HEADLINE[kind])
    return ("float16" if change < TOLERANCE[kind] else "float32"), change


def headline(kind: str, results: dict[str, Any]) -> dict[str, float]:
    """The card numbers of a results.json: the kind's headline metrics and the test-set size."""
    keys = (*HEADLINE[kind], "num_test_frames", "num_test_crops", "num_test_images")
    return {k: results[k] for k in keys if k in results}


def pack(source: str | Path, name: str, *, kind: str, evaluations: dict[str, dict[str, Any]],
         metrics: dict[str, float], metrics_on: str, trained_on: str, config: str, command: str,
         label: str | None) -> dict[str, Any]:
    """Write checkpoint/NAME.pt from `source` (run directory or checkpoint) and record it in the manifest.

    `evaluations` are the results of the float32 and float16 packs on the same test data ({'float32': results,
    'float16': results}); the file is float16 when they differ by less than TOLERANCE[kind] in every headline
    metric, else float32. `metrics` are the card's numbers, measured as `metrics_on` says (checkpoint/README.md)."""
    precision, change = choose_precision(kind, evaluations)
    data = _packed_bytes(source, kind, precision)
    models = manifest()
    total = len(data) + sum(m["size_bytes"] for n, m in models.items() if n != name)
    if total > MAX_TOTAL_BYTES:
        raise UserError(f"{name}: with it the zoo would take {total / 2**20:.1f} MiB; at most "
                        f"{MAX_TOTAL_BYTES / 2**20:.1f} MiB")
    path = atomic_write(ZOO_DIR / f"{name}.pt", lambda tmp: Path(tmp).write_bytes(data))
    models[name] = {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data),
                    "kind": kind, "precision": precision, "trained_on": trained_on, "config": config,
                    "command": command, "label": label, "metrics_on": metrics_on, "metrics": metrics,
                    "precision_check": {"float32": headline(kind, evaluations["float32"]),
                                        "float16": headline(kind, evaluations["float16"]), "change": change}}
    write_json(manifest_path(), dict(sorted(models.items())))
    return models[name]


def listing() -> str:
    """One line per zoo model: name, kind, training data, card numbers, size, label (`--list-models`)."""
    lines = []
    for name, m in sorted(manifest().items()):
        numbers = ", ".join(f"{k} {v:.3f}" if k.startswith("ap") else f"{k} {v:.1f} mm" if isinstance(v, float)
                            else f"{k} {v}" for k, v in m["metrics"].items())
        lines.append(f"{name}  [{m['kind']}, {m['precision']}, {m['size_bytes'] / 2**20:.1f} MiB]  trained on "
                     f"{m['trained_on']}; {m['metrics_on']}: {numbers}"
                     + (f"  -- {m['label']}" if m.get("label") else ""))
    return "\n".join(lines) if lines else f"no zoo models yet ({manifest_path()} is empty)"
