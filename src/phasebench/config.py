"""Validate an experiment config against the JSON Schema, fill defaults, and resolve it against
the registered plugins into the plan the Snakefile expands (torch-free: runs on every parse)."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

from phasebench import registry
from phasebench.errors import ConfigError
from phasebench.integrators import INTEGRATORS
from phasebench.provenance import config_hash
from phasebench.spec import system_capabilities

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


def _describe(error: jsonschema.ValidationError, source: str, root: dict) -> str:
    error = _most_relevant(error)
    where = _where(error.absolute_path)
    value, schema = error.instance, _deref(error.schema, root)
    kind = error.validator
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
        options = error.validator_value if kind == "enum" else [error.validator_value]
        return f"{source}: {where} must be one of {', '.join(map(str, options))}, not {value!r}"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        return f"{source}: {where} must be {op[kind]} {error.validator_value}, not {value!r}"
    if kind == "minItems":
        return f"{source}: {where} must list at least {error.validator_value} item(s)"
    if kind == "pattern":
        return (
            f"{source}: {where} = {value!r} may only use letters, digits and the characters "
            "_ . = , + - [ ]"
        )
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


def _check_type(value, annotation: str | None) -> bool:
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


def _resolve_hparams(entry: dict, info: registry.PluginInfo, source: str, where: str) -> dict:
    declared = {h.name: h for h in info.hparams}
    accepted = ", ".join(f"{h.name} ({h.annotation}, default {h.default!r})" for h in info.hparams)
    resolved = {h.name: h.default for h in info.hparams}
    for key, value in entry.get("hparams", {}).items():
        if key not in declared:
            raise ConfigError(
                f"{source}: {where}.hparams: unknown hyperparameter '{key}' of model plugin "
                f"'{info.name}' ({info.path.name}); accepted: {accepted or 'none'}"
            )
        if not _check_type(value, declared[key].annotation):
            raise ConfigError(
                f"{source}: {where}.hparams.{key} must be of type {declared[key].annotation} "
                f"for model plugin '{info.name}', not {value!r}"
            )
        resolved[key] = value
    return resolved


def _resolve_systems(config, schema, source, systems) -> dict:
    resolved = {}
    for i, entry in enumerate(config["systems"]):
        entry = {"name": entry} if isinstance(entry, str) else copy.deepcopy(entry)
        apply_defaults(entry, schema["$defs"]["system"], schema)
        where, name = f"systems[{i}]", entry["name"]
        if name not in systems:
            raise ConfigError(
                f"{source}: {where} names unknown system '{name}'; available: "
                f"{', '.join(sorted(systems))}"
            )
        if name in resolved:
            raise ConfigError(f"{source}: {where}: system '{name}' is listed twice")
        info = systems[name]
        declared = info.attrs.get("parameters", {})
        for key, value in entry["params"].items():
            if key not in declared:
                raise ConfigError(
                    f"{source}: {where}.params: unknown parameter '{key}' of system '{name}'; "
                    f"accepted: {', '.join(sorted(declared)) or 'none'}"
                )
            if not _check_type(value, "float"):
                raise ConfigError(f"{source}: {where}.params.{key} must be a number, not {value!r}")
        integrator = entry["integrator"]
        if integrator is not None and integrator not in INTEGRATORS:
            raise ConfigError(
                f"{source}: {where}.integrator must be one of {', '.join(INTEGRATORS)}, "
                f"not {integrator!r}"
            )
        if abs(sum(entry["splits"].values()) - 1.0) > 1e-9:
            raise ConfigError(f"{source}: {where}.splits must add up to 1, not {entry['splits']}")
        entry["params"] = {**declared, **entry["params"]}
        entry["canonical"] = bool(info.attrs.get("canonical", True))
        entry["dim"] = len(info.attrs.get("state_names", ()))
        entry["plugin_path"] = str(info.path)
        resolved[name] = entry
    return resolved


def _resolve_models(config, schema, source, models) -> dict:
    # "all" (alone or as a list item) stands for every registered plugin with its defaults.
    entries = ["all"] if config["models"] == "all" else config["models"]
    entries = [e for entry in entries for e in (sorted(models) if entry == "all" else [entry])]
    resolved = {}
    for i, entry in enumerate(entries):
        entry = {"plugin": entry} if isinstance(entry, str) else copy.deepcopy(entry)
        apply_defaults(entry, schema["$defs"]["model"], schema)
        where, plugin = f"models[{i}]", entry["plugin"]
        if plugin not in models:
            raise ConfigError(
                f"{source}: {where} names unknown model plugin '{plugin}'; available: "
                f"{', '.join(sorted(models))}"
            )
        name = entry.get("name", plugin)
        if name in resolved:
            raise ConfigError(
                f"{source}: {where}: a model named '{name}' is already listed; give each "
                "variant of a plugin its own name"
            )
        info = models[plugin]
        resolved[name] = {
            "plugin": plugin,
            "hparams": _resolve_hparams(entry, info, source, where),
            "training": {**config["training"], **entry.get("training", {})},
            "requires": sorted(info.attrs.get("requires", ())),
            "family": info.attrs.get("family", "other"),
            "plugin_path": str(info.path),
        }
    return resolved


def resolve(config: dict, source: str = "config.yaml", root: Path | None = None) -> dict:
    """The validated, default-filled plan: systems, models, seeds, runs and skipped pairs."""
    root = root or registry.repo_root()
    schema = load_schema(root)
    config = copy.deepcopy(config)
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(config),
        key=lambda e: list(map(str, e.absolute_path)),
    )
    if errors:
        raise ConfigError(_describe(errors[0], source, schema))
    apply_defaults(config, schema, schema)

    systems = _resolve_systems(config, schema, source, registry.scan("systems", root))
    models = _resolve_models(config, schema, source, registry.scan("models", root))
    runs, skipped = [], []
    for system, settings in systems.items():
        caps = system_capabilities(settings["canonical"], settings["dim"])
        for model, spec in models.items():
            missing = [r for r in spec["requires"] if r not in caps]
            if missing:
                reason = f"{model} requires {' and '.join(missing)}, which {system} lacks"
                skipped.append({"system": system, "model": model, "reason": reason})
            else:
                runs.append({"system": system, "model": model})
    plan = {
        "systems": systems,
        "models": models,
        "seeds": config["seeds"],
        "evaluation": config["evaluation"],
        "report": config["report"],
        "studies": config["studies"],
        "runs": runs,
        "skipped": skipped,
    }
    plan["config_hash"] = config_hash(config)
    return plan


def _load_file(path) -> dict:
    try:
        content = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if content is not None and not isinstance(content, dict):
        raise ConfigError(f"{path}: must be a mapping of keys to values, not {content!r}")
    return content or {}


def resolve_workflow_config(config: dict, files, overrides: dict | None, root: Path) -> dict:
    """Resolve the Snakefile's merged config; check each config file on its own first, so that
    an error names the file that holds the bad key."""
    for path in files:
        resolve(_load_file(path), source=str(path), root=root)
    if overrides:
        resolve(overrides, source="--config", root=root)
    return resolve(config, source=" + ".join(map(str, files)) or "config", root=root)


def simulate_settings(system: dict) -> dict:
    """What the simulate job needs: the system entry without its DAG bookkeeping."""
    return {k: v for k, v in system.items() if k not in ("plugin_path", "canonical", "dim")}


def train_settings(model: dict, seed: int) -> dict:
    keys = ("plugin", "hparams", "training")
    return {**{k: model[k] for k in keys}, "seed": seed}
