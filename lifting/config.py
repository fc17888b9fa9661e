"""YAML configs: one schema per entry point, defaults, strict validation, `--set key=value` overrides.

A config is a flat dict. Every key is declared in a schema with its type, default, a one-line description and
what is valid (bounds, choices, list constraints); a schema also lists cross-key rules. An unknown key, a value of
the wrong type, out of range, or a config that breaks a rule is a one-line `UserError` naming the key, the value
and what is valid. Strings are never empty and floats always finite.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lifting.errors import UserError
from lifting.fileio import reading, write_text

# Presets for `opt(...)`: `opt(float, 0.5, "dropout", **PROBABILITY)`.
POSITIVE = {"exclusive_minimum": 0}
NON_NEGATIVE = {"minimum": 0}
AT_LEAST_ONE = {"minimum": 1}
PROBABILITY = {"minimum": 0, "maximum": 1}


def _show(value: Any, limit: int = 80) -> str:
    """repr on one line, shortened (a generated or pasted value can be huge)."""
    try:
        text = repr(value)
    except ValueError:  # an int of more digits than Python prints
        return "<a number too long to print>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _number(x: float) -> str:
    return repr(x) if isinstance(x, float) and not x.is_integer() else str(int(x))


@dataclass(frozen=True)
class Option:
    """One config key. `types` are the accepted Python types; `item` is the element type of a list.

    What is valid beyond the type, checked at load: number bounds `minimum` / `maximum` (inclusive) and
    `exclusive_minimum` / `exclusive_maximum`; `choices`, which restrict the values of their own types (so
    `num_pairs` is an int >= 1 or 'all'); for a list, both apply to every item, `nonempty` forbids [] and
    `unique` repeated items.
    """

    types: tuple[type, ...]
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    item: type | None = None
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    nonempty: bool = False
    unique: bool = False

    def type_name(self) -> str:
        names = []
        for t in self.types:
            names.append(f"list[{self.item.__name__}]" if t is list and self.item else t.__name__)
        if self.nullable:
            names.append("null")
        return " or ".join(names)

    def bounds(self) -> str | None:
        """'>= 1', '> 0', 'in [0, 1]', 'in (0, 1]' ... or None when numbers are unbounded."""
        lo = (f"[{_number(self.minimum)}" if self.minimum is not None else
              f"({_number(self.exclusive_minimum)}" if self.exclusive_minimum is not None else None)
        hi = (f"{_number(self.maximum)}]" if self.maximum is not None else
              f"{_number(self.exclusive_maximum)})" if self.exclusive_maximum is not None else None)
        if lo and hi:
            return f"in {lo}, {hi}"
        if lo:
            return (">= " if lo[0] == "[" else "> ") + lo[1:]
        if hi:
            return ("<= " if hi[-1] == "]" else "< ") + hi[:-1]
        return None

    def value_text(self) -> str:
        """What a single value (or list item) may be, e.g. 'in [0, 1] or one of ['mturk']'."""
        parts = [self.bounds()] if self.bounds() else []
        if self.choices:
            parts.append(f"one of {list(self.choices)}")
        return " or ".join(parts)

    def valid_text(self) -> str:
        """The whole validity description (the docs' 'valid' column)."""
        if list not in self.types:
            return self.value_text()
        flags = (["non-empty"] if self.nonempty else []) + (["unique"] if self.unique else [])
        if len(self.types) > 1:  # a single value or a list of them
            return "; ".join(p for p in (self.value_text(), flags and "lists: " + ", ".join(flags)) if p)
        return ", ".join(flags + ([f"items {self.value_text()}"] if self.value_text() else []))

    def problem(self, value: Any) -> str | None:
        """What `value` (a scalar or one list item, already of an accepted type) should be, if it is not."""
        if isinstance(value, str) and not value:
            return "a non-empty string"
        if isinstance(value, float) and not math.isfinite(value):
            return "a finite number"
        if self.choices and any(type(value) is type(c) for c in self.choices):
            return None if value in self.choices else self.value_text()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and (
                (self.minimum is not None and value < self.minimum)
                or (self.maximum is not None and value > self.maximum)
                or (self.exclusive_minimum is not None and value <= self.exclusive_minimum)
                or (self.exclusive_maximum is not None and value >= self.exclusive_maximum)):
            return self.value_text()
        return None


Rule = Callable[[dict[str, Any]], "str | None"]


class Schema(dict):
    """Options by key, plus the cross-key rules a loaded config must pass: each rule takes the validated config
    and returns None, or a one-line message naming the keys and values that clash and what would be valid. A
    rule's docstring states the rule (it goes into docs/config.md)."""

    def __init__(self, options: dict[str, Option], rules: Sequence[Rule] = ()):
        super().__init__(options)
        self.rules = tuple(rules)


def opt(types, default, help: str, choices=None, item=None, nullable=False, **valid) -> Option:
    """Short constructor: `opt(int, 25, "training epochs", minimum=0)`; `valid` holds the other Option fields."""
    types = types if isinstance(types, tuple) else (types,)
    return Option(types, default, help, tuple(choices) if choices else None, item, nullable, **valid)


def _as_float(value: int, where: str) -> float:
    try:
        return float(value)
    except OverflowError:
        raise UserError(f"{where} must be a finite number, got {_show(value)}") from None


def _typed(o: Option, value: Any, where: str) -> Any:
    """`value` as one of the option's types (int -> float, tuple -> list), else a UserError."""
    for t in o.types:
        if t is float and isinstance(value, int) and not isinstance(value, bool):
            return _as_float(value, where)
        if t is int and isinstance(value, bool):
            continue
        if t is list and isinstance(value, (list, tuple)):
            if o.item is None:
                return list(value)
            fixed = []
            for v in value:
                if o.item is float and isinstance(v, int) and not isinstance(v, bool):
                    v = _as_float(v, f"{where} items")
                if not isinstance(v, o.item) or (o.item is int and isinstance(v, bool)):
                    raise UserError(f"{where} must be {o.type_name()}, got item {_show(v)}")
                fixed.append(v)
            return fixed
        if t is not list and isinstance(value, t):
            return value
    raise UserError(f"{where} must be {o.type_name()}, got {type(value).__name__} {_show(value)}")


def check_value(o: Option, value: Any, where: str) -> Any:
    """`value` as the option's type, or a one-line UserError `<where> must be ...` (type, null, bounds, choices,
    list constraints). Config keys and command-line flags are both checked here."""
    if value is None:
        if o.nullable:
            return None
        raise UserError(f"{where} must not be null (expected {o.type_name()})")
    value = _typed(o, value, where)
    if not isinstance(value, list):
        problem = o.problem(value)
        if problem:
            raise UserError(f"{where} must be {problem}, got {_show(value)}")
        return value
    if o.nonempty and not value:
        raise UserError(f"{where} must be a non-empty list")
    seen = set()
    for v in value:
        problem = o.problem(v)
        if problem:
            raise UserError(f"{where} items must be {problem}, got {_show(v)} in {_show(value)}")
        if o.unique and v in seen:
            raise UserError(f"{where} items must be unique, got {_show(v)} twice in {_show(value)}")
        seen.add(v)
    return value


def _check(schema: Schema, key: str, value: Any, source: str) -> Any:
    if key not in schema:
        raise UserError(f"{source}: unknown key {_show(key)}; valid keys: {', '.join(sorted(schema))}")
    return check_value(schema[key], value, f"{source}: key {key!r}")


def defaults(schema: Schema) -> dict[str, Any]:
    return {k: (list(o.default) if isinstance(o.default, (list, tuple)) else o.default) for k, o in schema.items()}


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: config file not found")
    with reading(path, "valid YAML"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of key: value at the top level, got {type(data).__name__}")
    return data


def _yaml_value(raw: str) -> Any:
    """A `--set` value parsed as YAML; text YAML cannot parse stays a string."""
    try:
        return yaml.safe_load(raw) if raw.strip() else ""
    except (yaml.YAMLError, ValueError, RecursionError):  # ValueError: an integer beyond Python's digit limit
        return raw


def parse_override(text: str, schema: Schema) -> tuple[str, Any]:
    """`key=value` with the value parsed as YAML; `a,b,c` becomes a list for list-typed keys."""
    if "=" not in text:
        raise UserError(f"--set {_show(text)}: expected key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if key not in schema:
        raise UserError(f"--set: unknown key {_show(key)}; valid keys: {', '.join(sorted(schema))}")
    value = _yaml_value(raw)
    if list in schema[key].types and isinstance(value, str) and "," in value:
        value = [_yaml_value(v) for v in value.split(",") if v.strip()]
    elif list in schema[key].types and not isinstance(value, list) and value is not None \
            and not any(isinstance(value, t) for t in schema[key].types if t is not list):
        value = [value]
    return key, value


def load_config(schema: Schema, path: str | Path | None = None,
                overrides: Sequence[str] = (), extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults <- YAML file <- `extra` dict <- `key=value` overrides, each validated; then the schema's rules."""
    cfg = defaults(schema)
    if path is not None:
        for k, v in read_yaml(path).items():
            cfg[k] = _check(schema, k, v, str(path))
    for k, v in (extra or {}).items():
        cfg[k] = _check(schema, k, v, "config")
    for text in overrides:
        k, v = parse_override(text, schema)
        cfg[k] = _check(schema, k, v, "--set")
    for rule in getattr(schema, "rules", ()):
        problem = rule(cfg)
        if problem:
            raise UserError(problem)
    return cfg


def validate(schema: Schema, cfg: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Check every key of a complete config dict (e.g. one stored in a checkpoint); missing keys get defaults.
    The cross-key rules are not applied: they guard new runs, and a stored config must stay loadable."""
    out = defaults(schema)
    for k, v in cfg.items():
        out[k] = _check(schema, k, v, source)
    return out


def save_config(path: str | Path, cfg: dict[str, Any]) -> None:
    write_text(path, yaml.safe_dump(cfg, sort_keys=False))


def describe(schema: Schema) -> str:
    """Markdown table of a schema (docs/config.md), with what is valid for every key."""
    rows = ["| key | type | default | valid | meaning |", "|---|---|---|---|---|"]
    for k, o in schema.items():
        valid = o.valid_text().replace("|", "\\|")
        rows.append(f"| `{k}` | {o.type_name()} | `{o.default!r}` | {valid} | {o.help} |")
    rules = [" ".join(r.__doc__.split()) for r in getattr(schema, "rules", ())]
    if rules:
        rows += ["", "Checked across keys at load:", ""] + [f"- {r}" for r in rules]
    return "\n".join(rows)
