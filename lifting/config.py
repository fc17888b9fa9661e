"""YAML configs: one schema per entry point, defaults, strict validation, `--set key=value` overrides.

A config is a flat dict. Every key is declared in a schema with its type, default and a one-line
description; an unknown key or a value of the wrong type is a `UserError` listing what is valid.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lifting.errors import UserError
from lifting.fileio import write_text


@dataclass(frozen=True)
class Option:
    """One config key. `types` are the accepted Python types; `item` is the element type of a list."""

    types: tuple[type, ...]
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    item: type | None = None
    nullable: bool = False

    def type_name(self) -> str:
        names = []
        for t in self.types:
            names.append(f"list[{self.item.__name__}]" if t is list and self.item else t.__name__)
        if self.nullable:
            names.append("null")
        return " or ".join(names)


Schema = dict[str, Option]


def opt(types, default, help: str, choices=None, item=None, nullable=False) -> Option:
    """Short constructor: `opt(int, 25, "training epochs")`."""
    types = types if isinstance(types, tuple) else (types,)
    return Option(types, default, help, tuple(choices) if choices else None, item, nullable)


def _check(schema: Schema, key: str, value: Any, source: str) -> Any:
    if key not in schema:
        raise UserError(f"{source}: unknown key {key!r}; valid keys: {', '.join(sorted(schema))}")
    o = schema[key]
    if value is None:
        if o.nullable:
            return None
        raise UserError(f"{source}: key {key!r} must not be null (expected {o.type_name()})")
    ok = False
    for t in o.types:
        if t is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        elif t is int and isinstance(value, bool):
            continue
        elif t is list and isinstance(value, (list, tuple)):
            value = list(value)
            if o.item is not None:
                fixed = []
                for v in value:
                    if o.item is float and isinstance(v, int) and not isinstance(v, bool):
                        v = float(v)
                    if not isinstance(v, o.item) or (o.item is int and isinstance(v, bool)):
                        raise UserError(f"{source}: key {key!r} must be {o.type_name()}, got item {v!r}")
                    fixed.append(v)
                value = fixed
            ok = True
        elif isinstance(value, t):
            ok = True
        if ok:
            break
    if not ok:
        raise UserError(f"{source}: key {key!r} must be {o.type_name()}, got {type(value).__name__} {value!r}")
    if o.choices is not None and value not in o.choices:
        raise UserError(f"{source}: key {key!r} must be one of {list(o.choices)}, got {value!r}")
    return value


def defaults(schema: Schema) -> dict[str, Any]:
    return {k: (list(o.default) if isinstance(o.default, (list, tuple)) else o.default) for k, o in schema.items()}


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        where = getattr(e, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise UserError(f"{path}: not valid YAML{line}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of key: value at the top level, got {type(data).__name__}")
    return data


def parse_override(text: str, schema: Schema) -> tuple[str, Any]:
    """`key=value` with the value parsed as YAML; `a,b,c` becomes a list for list-typed keys."""
    if "=" not in text:
        raise UserError(f"--set {text!r}: expected key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if key not in schema:
        raise UserError(f"--set: unknown key {key!r}; valid keys: {', '.join(sorted(schema))}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if list in schema[key].types and isinstance(value, str) and "," in value:
        value = [yaml.safe_load(v) for v in value.split(",") if v.strip()]
    elif list in schema[key].types and not isinstance(value, list) and value is not None \
            and not any(isinstance(value, t) for t in schema[key].types if t is not list):
        value = [value]
    return key, value


def load_config(schema: Schema, path: str | Path | None = None,
                overrides: Sequence[str] = (), extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults <- YAML file <- `extra` dict <- `key=value` overrides, each validated."""
    cfg = defaults(schema)
    if path is not None:
        for k, v in read_yaml(path).items():
            cfg[k] = _check(schema, k, v, str(path))
    for k, v in (extra or {}).items():
        cfg[k] = _check(schema, k, v, "config")
    for text in overrides:
        k, v = parse_override(text, schema)
        cfg[k] = _check(schema, k, v, "--set")
    return cfg


def validate(schema: Schema, cfg: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Check a complete config dict (e.g. one stored in a checkpoint); missing keys get defaults."""
    out = defaults(schema)
    for k, v in cfg.items():
        out[k] = _check(schema, k, v, source)
    return out


def save_config(path: str | Path, cfg: dict[str, Any]) -> None:
    write_text(path, yaml.safe_dump(cfg, sort_keys=False))


def describe(schema: Schema) -> str:
    """Markdown table of a schema (used for the README's CLI reference)."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for k, o in schema.items():
        choices = f" (one of {', '.join(map(str, o.choices))})" if o.choices else ""
        rows.append(f"| `{k}` | {o.type_name()} | `{o.default!r}` | {o.help}{choices} |")
    return "\n".join(rows)


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """The options every entry point shares: --opt FILE, --set KEY=VALUE..., --resume."""
    parser.add_argument("--opt", type=str, default=None, help="YAML config file")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override any config key (value parsed as YAML; lists as a,b,c)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run found in out_dir from its last checkpoint")


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2 (no usage dump)."""

    def error(self, message: str):  # noqa: D401
        self.exit(2, f"error: {self.prog}: {message}\n")
