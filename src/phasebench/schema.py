"""The config schema (`workflow/schemas/config.schema.yaml`): loading it, filling its defaults,
and saying in one sentence what a validation error means, naming the file and key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, cast

import jsonschema
import yaml

from phasebench import registry

SCHEMA_PATH = Path("workflow") / "schemas" / "config.schema.yaml"


def load_schema(root: Path | None = None) -> dict:
    return yaml.safe_load(((root or registry.repo_root()) / SCHEMA_PATH).read_text())


def _where(path) -> str:
    where = ""
    for part in path:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where or "the top level"


def _deref(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        ref = schema["$ref"].removeprefix("#/").split("/")
        target = root
        for key in ref:
            target = target[key]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _most_relevant(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For `anyOf` failures, the branch that matches the value's type says what is wrong."""
    while error.validator == "anyOf" and error.context:
        same_type = [e for e in error.context if e.validator not in ("type", "const")]
        if not same_type:
            break
        error = max(same_type, key=lambda e: len(e.absolute_path))
    return error


def describe(error: jsonschema.ValidationError, source: str, root: dict) -> str:
    error = _most_relevant(error)
    where = _where(error.absolute_path)
    # The failing keyword's schema is a mapping here (never a bare boolean schema).
    value, schema = error.instance, _deref(dict(error.schema), root)  # type: ignore[arg-type]
    kind = error.validator
    value = cast(Any, value)  # a config value: any JSON type
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed))
        return f"{source}: unknown key '{extra[0]}' in {where}; accepted keys: {', '.join(allowed)}"
    if kind == "required":
        return f"{source}: {where} needs the key {error.message.split()[0]}"
    if kind == "anyOf" and where == "models":
        return f"{source}: models must be 'all' or a list of model names or entries, not {value!r}"
    if kind == "anyOf":
        return f"{source}: {where} must be a name or an entry with keys, not {value!r}"
    if kind == "type":
        return f"{source}: {where} must be of type {error.validator_value}, not {value!r}"
    if kind in ("enum", "const"):
        options = cast(list, error.validator_value if kind == "enum" else [error.validator_value])
        return f"{source}: {where} must be one of {', '.join(map(str, options))}, not {value!r}"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        return f"{source}: {where} must be {op[kind]} {error.validator_value}, not {value!r}"
    if kind == "minItems":
        return f"{source}: {where} must list at least {error.validator_value} item(s)"
    if kind == "uniqueItems":
        twice = next(item for i, item in enumerate(value) if item in value[:i])
        return f"{source}: {where} lists {twice!r} more than once; give each value once"
    return f"{source}: {where}: {error.message}"


def apply_defaults(instance: dict, schema: dict, root: dict) -> dict:
    """Fill missing keys from `default`s; recurse only into objects whose schema has a default
    itself, so that partial override objects (a model's `training`) stay partial."""
    schema = _deref(schema, root)
    for key, sub in schema.get("properties", {}).items():
        sub = _deref(sub, root)
        if "default" not in sub:
            continue
        if key not in instance:
            instance[key] = copy.deepcopy(sub["default"])
        if isinstance(instance[key], dict):
            apply_defaults(instance[key], sub, root)
    return instance


def check_type(value, annotation: str | None) -> bool:
    if annotation is None:
        return True
    checks = {
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
        "None": lambda v: v is None,
    }
    options = [a.strip() for a in annotation.split("|")]
    if any(option not in checks for option in options):
        return True  # a type the scan cannot judge; the plugin's own __init__ will
    return any(checks[option](value) for option in options)
