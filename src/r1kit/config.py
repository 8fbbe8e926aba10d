"""Typed configuration: dataclasses loaded from YAML with `--section.key=value` overrides.

Strict by design: an unknown key or a value of the wrong type is an `R1kitError` naming the key,
never a silent default. The resolved config is a plain dataclass tree, saved with every run.

    cfg = load_config(GRPORunConfig, "recipes/tiny.yaml", ["--grpo.beta=0.0"])
"""

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from r1kit.errors import R1kitError

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against the annotation `tp`; ints are accepted where floats are expected."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise R1kitError(f"config key {key!r} must be a mapping, got {value!r}")
        return from_dict(tp, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(tp):
            return None
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _coerce(value, inner[0], key)
    if tp is Any:
        return _plain(value)
    if origin is list or origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise R1kitError(f"config key {key!r} must be a list, got {value!r}")
        (item_tp, *_) = typing.get_args(tp) or (Any,)
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise R1kitError(f"config key {key!r} must be a mapping, got {value!r}")
        _, val_tp = typing.get_args(tp) or (str, Any)
        return {str(k): _coerce(v, val_tp, f"{key}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if tp is str and isinstance(value, (_CliDict, _CliList)):
        return value.raw  # "--prompt={problem}": YAML reads a mapping, but the key wants the text as typed
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise R1kitError(f"config key {key!r} must be {_type_name(tp)}, got {value!r}")
    return _plain(value)


def _plain(value: Any) -> Any:
    """A command-line mapping or list as a plain dict or list (the saved config must dump as YAML)."""
    return dict(value) if isinstance(value, _CliDict) else list(value) if isinstance(value, _CliList) else value


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build dataclass `cls` from a mapping; unknown keys and wrong types raise R1kitError."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise R1kitError(f"unknown config key {prefix + str(key)!r} (valid: {', '.join(sorted(names))})")
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in data.items()}
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise R1kitError(f"invalid config{' section ' + prefix.rstrip('.') if prefix else ''}: {e}") from None
    return obj


class _CliDict(dict):
    """A mapping parsed from a command-line value, which keeps the text as typed (`raw`)."""

    raw: str = ""


class _CliList(list):
    """A list parsed from a command-line value, which keeps the text as typed (`raw`)."""

    raw: str = ""


def _cli_value(raw: str) -> Any:
    """`raw` parsed as YAML; a mapping or list remembers `raw`, for keys typed str ("{problem}", "[x]")."""
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        return raw
    if isinstance(value, (dict, list)):
        value = (_CliDict if isinstance(value, dict) else _CliList)(value)
        value.raw = raw
    return value


def parse_overrides(args: list[str]) -> dict[str, Any]:
    """`["--grpo.beta=0.0", "--rollout.stop=[a, b]"]` -> nested dict; values parsed as YAML scalars."""
    tree: dict[str, Any] = {}
    for arg in args:
        if not arg.startswith("--") or "=" not in arg:
            raise R1kitError(f"bad override {arg!r}: expected --section.key=value")
        dotted, raw = arg[2:].split("=", 1)
        value = _cli_value(raw)
        node = tree
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise R1kitError(f"bad override {arg!r}: {p!r} is not a section")
        node[leaf] = value
    return tree


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise R1kitError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise R1kitError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise R1kitError(f"config file {path} must hold a mapping at the top level")
    return data


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Defaults <- YAML file <- `--section.key=value` overrides, validated into `cls`."""
    data = read_yaml(path) if path else {}
    return from_dict(cls, _merge(data, parse_overrides(overrides or [])))


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def save_config(cfg: Any, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
