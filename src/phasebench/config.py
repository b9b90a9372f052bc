"""Resolve an experiment config against the registered plugins into the plan the Snakefile
expands: every default filled here, once (torch- and scipy-free: it runs on every parse). The
schema's own wording and defaults are `phasebench.schema`."""

from __future__ import annotations

import copy
import math
import platform
import sys
from pathlib import Path

import jsonschema
import yaml

from phasebench import registry, sweeps
from phasebench.errors import ConfigError
from phasebench.integrators import INTEGRATORS, SEPARABLE_ONLY, whole_substeps
from phasebench.provenance import config_hash
from phasebench.schema import apply_defaults, check_type, describe, load_schema
from phasebench.spec import missing_capabilities, system_capabilities
from phasebench.splits import split_sizes
from phasebench.system import System


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
        if not check_type(value, declared[key].annotation):
            raise ConfigError(
                f"{source}: {where}.hparams.{key} must be of type {declared[key].annotation} "
                f"for model plugin '{info.name}', not {value!r}"
            )
        # The plugin's declared bounds (`hparam_schema`, JSON Schema per hyperparameter).
        bounds = info.attrs.get("hparam_schema", {}).get(key, {})
        for error in jsonschema.Draft202012Validator(bounds).iter_errors(value):
            error.path.extendleft(reversed([f"{where}.hparams", key]))
            message = describe(error, source, bounds)
            raise ConfigError(f"{message} (model plugin '{info.name}')")
        resolved[key] = value
    return resolved


def _check_sweep(sweep: dict, info: registry.PluginInfo, source: str, where: str) -> None:
    declared, name = info.attrs.get("parameters", {}), info.name
    structural = set(info.attrs.get("structural", ()))
    sweepable = ", ".join(sorted(set(declared) - structural)) or "none"
    for key, bounds in sweep.items():
        at = f"{source}: {where}.sweep.{key}"
        if key not in declared:
            raise ConfigError(
                f"{source}: {where}.sweep: unknown parameter '{key}' of system '{name}'; "
                f"accepted: {sweepable}"
            )
        if key in structural:
            raise ConfigError(
                f"{at}: parameter '{key}' of system '{name}' is structural (it shapes the state "
                "or switches the physics) and cannot be swept per trajectory (set it in params "
                f"instead); sweepable: {sweepable}"
            )
        if not bounds["low"] < bounds["high"]:
            raise ConfigError(
                f"{at}: low must be below high, not {bounds['low']} >= {bounds['high']}"
            )
        held_out = [k for k in ("ood_low", "ood_high") if k in bounds]
        if len(held_out) == 1:
            raise ConfigError(f"{at}: give both ood_low and ood_high, or neither")
        if held_out:
            low, high = bounds["ood_low"], bounds["ood_high"]
            if not low < high:
                raise ConfigError(f"{at}: ood_low must be below ood_high, not {low} >= {high}")
            if low < bounds["high"] and high > bounds["low"]:
                raise ConfigError(
                    f"{at}: the held-out range [{low}, {high}] overlaps the training range "
                    f"[{bounds['low']}, {bounds['high']}]; unseen parameters must lie outside it"
                )


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
            if not check_type(value, "float"):
                raise ConfigError(f"{source}: {where}.params.{key} must be a number, not {value!r}")
        _check_sweep(entry["sweep"], info, source, where)
        _check_positive(entry, info, source, where)
        _check_initial_conditions(entry, info, source, where)
        integrator = entry["integrator"]
        if integrator is not None and integrator not in INTEGRATORS:
            raise ConfigError(
                f"{source}: {where}.integrator must be one of {', '.join(INTEGRATORS)}, "
                f"not {integrator!r}"
            )
        if integrator in SEPARABLE_ONLY and not info.attrs.get("separable", False):
            raise ConfigError(
                f"{source}: {where}.integrator {integrator} needs a separable H = T(p) + V(q), "
                f"which {name} is not; use implicit_midpoint, rk4 or reference"
            )
        if entry["ood_particles"] and not info.attrs.get("particle_system", False):
            raise ConfigError(
                f"{source}: {where}.ood_particles needs a particle system; {name} is not one"
            )
        if abs(sum(entry["splits"].values()) - 1.0) > 1e-9:
            raise ConfigError(f"{source}: {where}.splits must add up to 1, not {entry['splits']}")
        _fill_system_defaults(entry, info)
        if entry["burn_in"] and entry["n_steps"] - entry["burn_in"] < 1:
            raise ConfigError(
                f"{source}: {where}.burn_in {entry['burn_in']} leaves no step of n_steps "
                f"{entry['n_steps']} to store; burn_in must be below n_steps"
            )
        _check_start_time(entry, source, where)
        n = entry["n_trajectories"]
        if n and split_sizes(n, entry["splits"])["train"] < 1:
            raise ConfigError(
                f"{source}: {where}.splits leave no training trajectory of {n} (val and test "
                "take at least one each); raise n_trajectories or splits.train"
            )
        entry["params"] = {**declared, **entry["params"]}
        # The reports' "numerical method" rows: the data's integrator and RK4 at the data's step.
        entry["reference_integrators"] = list(dict.fromkeys([entry["integrator"], "rk4"]))
        entry["canonical"] = bool(info.attrs.get("canonical", True))
        entry["particles"] = bool(info.attrs.get("particle_system", False))
        # A system whose dimension is a parameter has no literal state_names (dim unknown here).
        entry["dim"] = len(info.attrs["state_names"]) if "state_names" in info.attrs else None
        entry["plugin_path"] = str(info.path)
        resolved[name] = entry
    return resolved


def _check_start_time(entry: dict, source: str, where: str) -> None:
    """start_time is integrated in the integrator's own substeps, so it must be made of them."""
    substep = entry["dt"] / entry["substeps"]
    if whole_substeps(entry["start_time"], entry["dt"], entry["substeps"]) is None:
        raise ConfigError(
            f"{source}: {where}.start_time {entry['start_time']:g} is not a whole number of "
            f"integrator substeps (dt/substeps = {substep:g}); give a multiple of {substep:g}, "
            "or 0 to store from the initial state"
        )


# The simulation settings a system plugin may set as `default_<key>` literals (else System's).
PLUGIN_DEFAULTS = ("n_steps", "dt", "substeps", "integrator")


def _fill_system_defaults(entry: dict, info: registry.PluginInfo) -> None:
    """Replace the nulls the schema leaves (\"the system's default\") by the plugin's literals,
    so that the plan, its hash and the simulate job's parameters hold the values used. A
    system with reference initial states keeps n_trajectories null: its set's size."""
    for key in PLUGIN_DEFAULTS:
        if entry[key] is None:
            entry[key] = info.attrs.get(f"default_{key}", getattr(System, f"default_{key}"))
    has_reference = "reference_initial_states" in info.methods
    if entry["initial_conditions"] is None:
        entry["initial_conditions"] = "reference" if has_reference else "sampled"
    if entry["initial_conditions"] == "sampled" and entry["n_trajectories"] is None:
        default = System.default_n_trajectories
        entry["n_trajectories"] = info.attrs.get("default_n_trajectories", default)


def _check_positive(entry: dict, info: registry.PluginInfo, source: str, where: str) -> None:
    """Parameters the system plugin declares `positive` (masses, lengths, moments of inertia)
    must be above zero, as set in params and over the whole range of a sweep."""
    for key in info.attrs.get("positive", ()):
        values = {f"params.{key}": entry["params"].get(key)}
        for bound in ("low", "ood_low"):
            values[f"sweep.{key}.{bound}"] = entry["sweep"].get(key, {}).get(bound)
        for at, value in values.items():
            if value is not None and value <= 0:
                raise ConfigError(
                    f"{source}: {where}.{at} must be > 0 (parameter '{key}' of system "
                    f"'{info.name}' is positive), not {value!r}"
                )


def _check_initial_conditions(entry: dict, info: registry.PluginInfo, source, where) -> None:
    has_reference = "reference_initial_states" in info.methods
    chosen, name = entry["initial_conditions"], info.name
    if chosen == "reference" and not has_reference:
        raise ConfigError(
            f"{source}: {where}.initial_conditions: system '{name}' has no reference initial "
            "states; use sampled (or leave it null)"
        )
    if has_reference and chosen in (None, "reference") and entry["n_trajectories"] is not None:
        raise ConfigError(
            f"{source}: {where}.n_trajectories: system '{name}' takes its reference initial "
            "states (a fixed number); set initial_conditions: sampled to draw n_trajectories"
        )


def _samples(entry: dict) -> tuple[int, int]:
    """Stored states per trajectory: in all, and those at t <= train_horizon (training). The
    store holds saved steps burn_in … n_steps, step k at t = start_time + k·dt."""
    n_steps, first, horizon = entry["n_steps"], entry["burn_in"], entry["train_horizon"]
    stored = n_steps - first + 1
    if horizon is None:
        return stored, stored
    last = min(n_steps, math.floor((horizon - entry["start_time"]) / entry["dt"] + 1e-9))
    return stored, max(0, last - first + 1)


def _stored_times(entry: dict) -> tuple[float, float]:
    """The first and last stored times of a system's trajectories."""
    start, dt = entry["start_time"], entry["dt"]
    return start + entry["burn_in"] * dt, start + entry["n_steps"] * dt


def _window(model: dict, info: registry.PluginInfo) -> int:
    """States in one training window: a `window` hyperparameter sets input_steps =
    output_steps = window (the plugins' convention), else the class literals."""
    if "window" in model["hparams"]:
        return 2 * model["hparams"]["window"]
    return info.attrs.get("input_steps", 1) + info.attrs.get("output_steps", 1)


def _check_training(overrides: dict, schema: dict, source: str, prefix: list) -> None:
    validator = jsonschema.Draft202012Validator(schema["$defs"]["training_override"])
    for error in validator.iter_errors(overrides):
        error.path.extendleft(reversed(prefix))
        raise ConfigError(describe(error, source, schema))


def _integer_keys(info: registry.PluginInfo, schema: dict) -> set[str]:
    """Keys whose random draws must be integers: int hyperparameters and training settings."""
    training = schema["$defs"]["training"]["properties"]
    return {h.name for h in info.hparams if h.annotation == "int"} | {
        key for key, spec in training.items() if spec.get("type") == "integer"
    }


def _check_ranges(search: dict, source: str, where: str) -> None:
    """A random search's ranges, before anything is drawn from them."""
    for section in sweeps.SECTIONS:
        for key, spec in search.get(section, {}).items():
            if not isinstance(spec, dict):
                continue  # a list of choices
            at = f"{source}: {where}.{section}.{key}"
            if not spec["low"] < spec["high"]:
                raise ConfigError(
                    f"{at}: low must be below high, not {spec['low']} >= {spec['high']}"
                )
            if spec.get("log") and spec["low"] <= 0:
                raise ConfigError(f"{at}: log: true needs low > 0, not {spec['low']}")


def _variants(entry: dict, info, schema: dict, source: str, where: str, budget) -> list[dict]:
    """The model entries an entry stands for: itself, or its grid or random search."""
    base = entry.get("name", entry["plugin"])
    if "grid" in entry and "random" in entry:
        raise ConfigError(f"{source}: {where} has both grid and random; give one of them")
    if "grid" in entry:
        return sweeps.grid_variants(entry, base)
    if "random" in entry:
        _check_ranges(entry["random"], source, f"{where}.random")
        draws = entry["random"].get("draws", budget)
        if draws is None:
            raise ConfigError(
                f"{source}: {where}.random needs draws (or set sweeps.budget_per_family)"
            )
        return sweeps.random_variants(entry, base, draws, _integer_keys(info, schema))
    return [{**entry, "name": base}]


def _resolve_models(config, schema, source, models) -> dict:
    # "all" (alone or as a list item) stands for every registered plugin with its defaults.
    entries = ["all"] if config["models"] == "all" else config["models"]
    entries = [e for entry in entries for e in (sorted(models) if entry == "all" else [entry])]
    budget = config["sweeps"]["budget_per_family"]
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
        info = models[plugin]
        section = "grid" if "grid" in entry else "random" if "random" in entry else None
        for variant in _variants(entry, info, schema, source, where, budget):
            name = variant["name"]
            if problem := registry.name_problem("models", name):
                raise ConfigError(f"{source}: {where}: {problem}")
            if name in resolved:
                raise ConfigError(
                    f"{source}: {where}: a model named '{name}' is already listed; give each "
                    "variant of a plugin its own name"
                )
            # Errors point at what the user wrote: models[i].training or models[i].grid.training.
            at = f"{where}.{section}" if section else where
            _check_training(variant.get("training", {}), schema, source, [at, "training"])
            training = {**config["training"], **variant.get("training", {})}
            if training["precision"] == "16-mixed" and training["accelerator"] == "cpu":
                own = {"precision", "accelerator"} & set(variant.get("training", {}))
                key = f"{at}.training" if own else "training"
                raise ConfigError(
                    f"{source}: {key}: precision 16-mixed needs a GPU (on CPU Lightning would "
                    "use bf16 instead); use 32, 64 or bf16-mixed with accelerator cpu"
                )
            if training["lr_end"] and training["lr_reduce_patience"]:
                own = {"lr_end", "lr_reduce_patience"} & set(variant.get("training", {}))
                key = f"{at}.training" if own else "training"
                raise ConfigError(
                    f"{source}: {key}: lr_end (decay per step) and lr_reduce_patience (reduce on "
                    "plateau) are two learning-rate schedules; set one of them to null"
                )
            resolved[name] = {
                "plugin": plugin,
                "hparams": _resolve_hparams(variant, info, source, at),
                "training": training,
                "requires": sorted(info.attrs.get("requires", ())),
                "family": info.attrs.get("family", "other"),
                "plugin_path": str(info.path),
                "sweep": variant.get("sweep"),
                "swept": variant.get("swept", {}),
            }
    _check_sweep_size(resolved, config["sweeps"], source)
    return resolved


def _check_sweep_size(models: dict, settings: dict, source: str) -> None:
    if len(models) > settings["max_variants"]:
        counts: dict[str, int] = {}
        for name, model in models.items():
            counts[model["sweep"] or name] = counts.get(model["sweep"] or name, 0) + 1
        detail = ", ".join(f"{base}: {n}" for base, n in counts.items() if n > 1)
        raise ConfigError(
            f"{source}: the models expand to {len(models)} variants ({detail}), more than "
            f"sweeps.max_variants = {settings['max_variants']}; shrink the grids or raise it"
        )
    if settings["budget_per_family"] is not None:
        per_family: dict[str, int] = {}
        for model in models.values():
            if model["sweep"]:
                per_family[model["family"]] = per_family.get(model["family"], 0) + 1
        for family, n in per_family.items():
            if n > settings["budget_per_family"]:
                raise ConfigError(
                    f"{source}: family '{family}' is given {n} variants, more than "
                    f"sweeps.budget_per_family = {settings['budget_per_family']}"
                )


def _check_studies(studies: dict, models: dict, source: str) -> None:
    vision = studies["vision"]
    if vision["width"] % vision["heads"]:
        raise ConfigError(
            f"{source}: studies.vision.heads = {vision['heads']} must divide "
            f"studies.vision.width = {vision['width']}"
        )
    deep = [m for m in vision["models"] if m.startswith("deep_")]
    stray = [s for s in vision["deep_seeds"] if s not in vision["seeds"]]
    if vision["enabled"] and deep and stray:
        raise ConfigError(
            f"{source}: studies.vision.deep_seeds {stray} are not in studies.vision.seeds "
            f"{vision['seeds']}; the deep models train on some of the random splits drawn there"
        )
    study = studies["attention_kernels"]
    name = study["trained_model"]
    if not study["enabled"] or not name:
        return
    where = f"{source}: studies.attention_kernels.trained_model"
    attention = sorted(n for n, m in models.items() if m["family"] == "transformer")
    accepted = f'{", ".join(attention) or "none in this config"}, or "" to skip that panel'
    if name not in models:
        raise ConfigError(f"{where} '{name}' is not one of the models; accepted: {accepted}")
    if name not in attention:
        raise ConfigError(
            f"{where} '{name}' has no attention layer (family {models[name]['family']}); "
            f"accepted: {accepted}"
        )


def _check_run(system: dict, model: dict, plugins: dict, names: tuple, source: str) -> None:
    """What a model asks of a system's data and dimension, before any job runs."""
    system_name, model_name = names
    _, train = _samples(system)
    window = _window(model, plugins["models"][model["plugin"]])
    if window > train:
        limit = "train_horizon" if system["train_horizon"] is not None else "n_steps"
        raise ConfigError(
            f"{source}: model '{model_name}' trains on windows of {window} states, but "
            f"system '{system_name}' gives {train} per trajectory for training; raise its "
            f"{limit} or shorten the model's window"
        )
    heads, hparams = model["hparams"].get("heads"), model["hparams"]
    width = hparams.get("embed") or system["dim"]
    if heads and width and width % heads:
        what = "embed" if hparams.get("embed") else f"the dimension of '{system_name}'"
        raise ConfigError(
            f"{source}: model '{model_name}': heads = {heads} must divide {what} ({width}); "
            "choose heads among its divisors"
        )


def _check_horizons(horizons, systems: dict, source: str) -> None:
    """Rollout horizons the user asked for must lie within every system's test data (default
    horizons beyond a short data set are left out of its tables)."""
    for name, system in systems.items():
        begin, end = _stored_times(system)
        beyond = [h for h in horizons if h > end + 1e-9]
        if beyond:
            raise ConfigError(
                f"{source}: evaluation.horizons {beyond} lie beyond the data of system "
                f"'{name}' (t <= {end:g}); drop them or raise its n_steps"
            )
        before = [h for h in horizons if h < begin - 1e-9]
        if before:
            raise ConfigError(
                f"{source}: evaluation.horizons {before} lie before the stored data of system "
                f"'{name}' (t >= {begin:g}, start_time + burn_in·dt); give times within it"
            )


def resolve(config: dict, source: str = "config.yaml", root: Path | None = None) -> dict:
    """The validated, default-filled plan: systems, models, seeds, runs and skipped pairs."""
    root = root or registry.repo_root()
    schema = load_schema(root)
    config = copy.deepcopy(config)
    explicit_horizons = isinstance(config.get("evaluation"), dict) and (
        "horizons" in config["evaluation"]
    )
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(config),
        key=lambda e: list(map(str, e.absolute_path)),
    )
    if errors:
        raise ConfigError(describe(errors[0], source, schema))
    apply_defaults(config, schema, schema)

    plugins = {kind: registry.scan(kind, root) for kind in ("systems", "models")}
    systems = _resolve_systems(config, schema, source, plugins["systems"])
    models = _resolve_models(config, schema, source, plugins["models"])
    runs, skipped = [], []
    for system, settings in systems.items():
        caps = system_capabilities(settings["canonical"], settings["particles"])
        for model, spec in models.items():
            missing = missing_capabilities(spec["requires"], caps)
            if missing:
                reason = f"{model} requires {' and '.join(missing)}, which {system} lacks"
                skipped.append({"system": system, "model": model, "reason": reason})
            else:
                _check_run(settings, spec, plugins, (system, model), source)
                runs.append({"system": system, "model": model})
    if explicit_horizons:
        _check_horizons(config["evaluation"]["horizons"], systems, source)
    _check_studies(config["studies"], models, source)
    swept: dict[str, dict] = {}
    for name, model in models.items():
        if model["sweep"]:
            swept.setdefault(model["sweep"], {})[name] = model["swept"]
    plan = {
        "systems": systems,
        "models": models,
        "sweeps": swept,
        "select_by": config["sweeps"]["select_by"],
        "seeds": config["seeds"],
        "evaluation": config["evaluation"],
        "report": config["report"],
        "studies": config["studies"],
        "runs": runs,
        "skipped": skipped,
    }
    # The experiment: the default-filled config with each system's settings as resolved (the
    # plugins' dt, steps, substeps and integrator), without paths that differ between clones.
    resolved = {**config, "systems": [simulate_settings(s) for s in systems.values()]}
    plan["experiment_hash"] = config_hash(resolved)
    return plan


def _load_file(path) -> dict:
    try:
        content = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if content is not None and not isinstance(content, dict):
        raise ConfigError(f"{path}: must be a mapping of keys to values, not {content!r}")
    return content or {}


def parse_overrides(args) -> dict:
    """`--config key=value` arguments read as YAML, like a config file. Snakemake's own parse
    reads nested values with YAML's BaseLoader, which leaves every scalar a string
    (`seeds=[0]` arrives as ['0'])."""
    overrides: dict = {}
    for arg in args or ():
        key, _, text = arg.partition("=")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as err:
            problem = str(err).splitlines()[0]
            raise ConfigError(f"--config {arg}: the value is not valid YAML ({problem})") from None
        overrides = _merge(overrides, {key: value})
    return overrides


def _merge(config: dict, overrides: dict) -> dict:
    """`config` with `overrides` merged in the way Snakemake merges them (mappings merge)."""
    merged = dict(config)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            value = _merge(merged[key], value)
        merged[key] = value
    return merged


def resolve_workflow_config(config: dict, files, overrides, root: Path) -> dict:
    """Resolve the Snakefile's merged config; check each config file on its own first, so that
    an error names the file that holds the bad key. `overrides`: the `--config` arguments."""
    for path in files:
        resolve(_load_file(path), source=str(path), root=root)
    sources = [str(path) for path in files]
    if overrides:
        overrides = parse_overrides(overrides)
        resolve(overrides, source="--config", root=root)
        config, sources = _merge(config, overrides), [*sources, "--config"]
    return resolve(config, source=" + ".join(sources) or "config", root=root)


def gpu_present() -> bool:
    """Whether this machine has a GPU that Lightning's `gpu` can use, without importing torch:
    an NVIDIA or AMD (ROCm) driver on Linux, Apple silicon (MPS) on macOS."""
    if sys.platform == "darwin":
        return platform.machine() == "arm64"
    return any(Path("/proc/driver/nvidia/gpus").glob("*")) or Path("/dev/kfd").exists()


def check_local_accelerators(plan: dict, source: str = "config") -> None:
    """Models asked to train on a GPU (gpu, cuda, mps) when the jobs run on this machine and it
    has none: Lightning would stop each training job with a traceback."""
    wanting = [
        n for n, m in plan["models"].items() if m["training"]["accelerator"] not in ("auto", "cpu")
    ]
    if wanting and not gpu_present():
        raise ConfigError(
            f"{source}: training.accelerator asks for a GPU (models {', '.join(wanting)}), but "
            "this machine has none; use auto or cpu, or run the jobs where there is one "
            "(--profile profiles/slurm)"
        )


def simulate_settings(system: dict) -> dict:
    """What the simulate job needs: the system entry without its DAG bookkeeping."""
    bookkeeping = ("plugin_path", "canonical", "particles", "dim", "reference_integrators")
    return {k: v for k, v in system.items() if k not in bookkeeping}


def budget_epochs(budgets: list, max_epochs: int) -> list[int]:
    """evaluation.budgets as epochs of one run: fractions of max_epochs rounded (at least 1),
    epochs beyond max_epochs dropped."""
    epochs = {max(1, round(b * max_epochs)) if b < 1 else int(b) for b in budgets}
    return sorted(e for e in epochs if e <= max_epochs)


def train_settings(model: dict, seed: int, budgets: list) -> dict:
    keys = ("plugin", "hparams", "training")
    epochs = budget_epochs(budgets, model["training"]["max_epochs"])
    return {**{k: model[k] for k in keys}, "seed": seed, "budgets": epochs}
