"""Long autoregressive rollouts on the test splits, judged by `phasebench.metrics`.

A trained model and the system's own integrators (taking one step per saved sample, the "numerical
method" rows of the reports) are scored the same way. Checkpoints load with plain torch, no
Lightning, so an evaluation job starts fast.
"""

from __future__ import annotations

import json
import math
import resource
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from phasebench.data import (
    EVALUATION_FORMAT,
    UNITS,
    load_split,
    open_store,
    particle_features,
    trajectory_parameters,
    write_store,
)
from phasebench.errors import DataError, PluginError
from phasebench.integrators import INTEGRATORS
from phasebench.metrics import (
    invariant_errors,
    map_structure_errors,
    relative_error,
    rollout_scalars,
)
from phasebench.model import (
    ModelPlugin,
    build_model,
    check_output,
    plugin_label,
    precision_dtype,
    roll_out,
    sliding_windows,
)
from phasebench.particle_ood import open_group, skip_reason
from phasebench.rotations import haar_rotations
from phasebench.spec import SystemSpec, spec_from_store
from phasebench.system import build_system

# Scalars of the test split are unprefixed; the validation split's ("val_") choose among the
# variants of a swept model without looking at test data; "ood_" is out of distribution.
SPLIT_PREFIXES = {"test": "", "val": "val_", "test_ood": "ood_"}
STRUCTURE_WINDOWS = 8  # test windows at which the Jacobian of the learned map is measured

# A predictor maps true trajectories (n, T, D), the values of swept system parameters per
# trajectory and the particle features (n, particles, F) (None: no particles) to predicted
# ones, the time it took, the number of steps (model calls) it took, and how many leading
# states it was given.
Predictor = Callable[[np.ndarray, dict, np.ndarray | None], tuple[np.ndarray, float, int, int]]


def load_model(checkpoint: Path, spec: SystemSpec | None = None) -> ModelPlugin:
    """The trained plugin from a `best.ckpt` written by `phasebench.training` (built for
    another `spec`, such as more particles, where given: the weights must fit it)."""
    checkpoint = Path(checkpoint)
    if not checkpoint.exists():
        raise DataError(f"{checkpoint}: no such checkpoint; the train rule writes it")
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    hp = state["hyper_parameters"]
    # In the precision it was trained in: float64 weights loaded into float32 ones lose digits.
    dtype = precision_dtype(hp["training"]["precision"])
    spec = spec or SystemSpec.from_dict(hp["spec"])
    model = build_model(hp["plugin"], spec, hp["hparams"], dtype)
    weights = {k.removeprefix("model."): v for k, v in state["state_dict"].items()}
    model.load_state_dict(weights)
    return model.eval()


def one_step_error(model: ModelPlugin, truth: np.ndarray, features=None) -> float:
    """Mean relative error of predictions from true windows (teacher forcing)."""
    windows = true_windows(model, truth)
    k = model.input_steps
    with torch.no_grad():
        given = window_features(model, truth, features)
        prediction = model.step(windows[:, :k], given)
        prediction = check_output(model, windows[:, :k], prediction).numpy()
    return float(relative_error(prediction, windows[:, k:].numpy()).mean())


def window_features(model: ModelPlugin, truth: np.ndarray, features) -> torch.Tensor | None:
    """The particle features of each of `true_windows`' windows, for a particle model."""
    if features is None or not model.takes_features:
        return None
    per_trajectory = truth.shape[1] - model.input_steps - model.output_steps + 1
    tensor = torch.from_numpy(features).to(weights_dtype(model))
    return tensor.repeat_interleave(per_trajectory, dim=0)


def _features_tensor(model: ModelPlugin, features, device="cpu") -> torch.Tensor | None:
    if features is None or not model.takes_features:
        return None
    return torch.from_numpy(features).to(device, weights_dtype(model))


def true_windows(model: ModelPlugin, truth: np.ndarray) -> torch.Tensor:
    states = torch.from_numpy(truth).to(weights_dtype(model))
    return sliding_windows(states, model.input_steps + model.output_steps)


def weights_dtype(model: ModelPlugin) -> torch.dtype:
    """The model's floating-point dtype; data of another precision is cast to it."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


def _model_predictor(model: ModelPlugin, device: str = "cpu") -> Predictor:
    def predict(truth, swept=None, features=None):  # never the parameters; particle features
        k, moved = model.input_steps, model.to(device)
        window = torch.from_numpy(truth[:, :k]).to(device, weights_dtype(model))
        given = _features_tensor(model, features, device)
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad():  # also for a plugin's own rollout without the decorator
            prediction = roll_out(moved, window, truth.shape[1] - k, given)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        model.to("cpu")
        if tuple(prediction.shape) != truth.shape:  # a plugin's own rollout, not broadcast
            raise PluginError(
                f"{plugin_label(model)}: rollout(window {tuple(window.shape)}, "
                f"{truth.shape[1] - k}) returned {tuple(prediction.shape)}, but it must return "
                f"{truth.shape}: the {k} given state(s) followed by the predicted ones"
            )
        calls = math.ceil((truth.shape[1] - k) / model.output_steps)
        return prediction.cpu().numpy(), seconds, calls, k

    return predict


def _integrator_predictor(system, integrator: str, dt: float) -> Predictor:
    def predict(truth, swept, features=None):
        start = time.perf_counter()
        steps = truth.shape[1] - 1
        field = system.for_trajectories(swept).with_features(features).vector_field
        prediction = INTEGRATORS[integrator](field, truth[:, 0], dt, steps, 1)
        return prediction, time.perf_counter() - start, steps, 1

    return predict


def _finite_or_none(value):
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def error_attrs(name: str) -> dict:
    """long_name and units of an error curve `rel_error` or `<invariant>_error`, so that a
    plain xarray user of an evaluation store sees what it holds."""
    if name == "rel_error":
        return {"long_name": "relative state error |x_pred - x| / |x|", "units": "1"}
    invariant = name.removesuffix("_error")
    return {
        "long_name": f"relative error of {invariant} against its initial value (absolute "
        "where that is about 0)",
        "units": "1",
    }


def _score(
    ds: xr.Dataset,
    data: Path,
    predict: Predictor,
    settings: dict,
    one_step=None,
    splits=SPLIT_PREFIXES,
):
    """Predict every evaluated split of `ds` (those of `splits`, split -> scalar prefix); the
    per-step errors and the scalars."""
    system = build_system(ds.attrs["system"], json.loads(ds.attrs["parameters"]))
    time_axis = ds["time"].values
    parts, scalars = [], {}
    for split, prefix in splits.items():
        if split != "test" and not (ds["split"] == split).any():
            continue
        truth, swept = load_split(ds, split, str(data)), trajectory_parameters(ds, split)
        features = particle_features(ds, split)
        prediction, seconds, steps, given = predict(truth, swept, features)
        errors = {"rel_error": relative_error(prediction, truth)}
        bound = system.for_trajectories(swept, 1).with_features(features, 1)
        invariants = invariant_errors(bound, prediction, truth)
        errors.update({f"{name}_error": values for name, values in invariants.items()})
        split_scalars = rollout_scalars(errors["rel_error"], invariants, time_axis, settings)
        if one_step is not None:
            split_scalars["one_step_error"] = one_step(truth, swept, features)
        if features is not None:  # the EGNN protocol's measure: position MSE at the last state
            half = truth.shape[-1] // 2
            last = (prediction[:, -1, :half] - truth[:, -1, :half]) ** 2
            split_scalars["final_position_mse"] = float(last.mean())
        split_scalars["diverged"] = not bool(np.isfinite(prediction).all())
        if split == "test":
            split_scalars["inference_ms_per_step"] = 1e3 * seconds / steps
            split_scalars["rollout_steps"] = truth.shape[1] - given  # predicted states
            split_scalars["test_trajectories"] = int(truth.shape[0])
        scalars.update({prefix + key: value for key, value in split_scalars.items()})
        index = ds["trajectory"].values[(ds["split"] == split).values]
        dims = ("trajectory", "time")
        parts.append(
            xr.Dataset(
                {
                    **{name: (dims, values, error_attrs(name)) for name, values in errors.items()},
                    "state_pred": (
                        dims + ("dof",),
                        prediction.astype(np.float32),
                        {"long_name": "predicted state, by dof", "units": UNITS},
                    ),
                },
                coords={"trajectory": index, "split": ("trajectory", [split] * len(index))},
            )
        )
    curves = xr.concat(parts, dim="trajectory").assign_coords(time=ds["time"], dof=ds["dof"].values)
    curves["split"] = curves["split"].astype(object)
    return curves, scalars


def _finish(curves: xr.Dataset, scalars: dict, ds: xr.Dataset) -> tuple[xr.Dataset, dict]:
    scalars = {key: _finite_or_none(value) for key, value in scalars.items()}
    curves.attrs = {
        "format": EVALUATION_FORMAT,
        "system": ds.attrs["system"],
        "data_config_hash": ds.attrs.get("config_hash", ""),
        "scalars": json.dumps(scalars),
    }
    return curves, scalars


def budget_curve(budgets: Path, ds: xr.Dataset, data: Path, settings: dict) -> list[dict]:
    """The validation rollout error at the horizons of the best weights kept at each training
    budget (`budgets/budgets.json`, written by training), with the budget's epochs, optimiser
    steps and wall seconds."""
    truth = load_split(ds, "val", str(data))
    curve = []
    for budget in json.loads((Path(budgets) / "budgets.json").read_text()):
        model = load_model(Path(budgets) / budget["file"])
        prediction, *_ = _model_predictor(model)(truth, {}, particle_features(ds, "val"))
        error = relative_error(prediction, truth)
        scalars = rollout_scalars(error, {}, ds["time"].values, settings)
        horizons = {k: _finite_or_none(v) for k, v in scalars.items() if k.startswith("error_t")}
        spent = {key: budget[key] for key in ("epoch", "step", "wall_s")}
        curve.append({**spent, **{f"val_{k}": v for k, v in horizons.items()}})
    return curve


def evaluate(
    checkpoint: Path,
    data: Path,
    settings: dict,
    train_summary: dict,
    model_name: str,
    budgets: Path | None = None,
):
    """Roll a trained model out over every test (and test_ood) trajectory, from its first
    window to its end. Returns the per-step errors as a Dataset and the scalars as a dict;
    with a run's `budgets` folder, the scalars hold its `budget_curve` too, ending with the
    trained model."""
    model = load_model(checkpoint)
    ds = open_store(data)
    curves, scalars = _score(
        ds,
        data,
        _model_predictor(model),
        settings,
        lambda truth, _, features: one_step_error(model, truth, features),
    )
    curves, scalars = _score_other_particles(curves, scalars, data, settings, model, checkpoint)
    test, test_features = load_split(ds, "test", str(data)), particle_features(ds, "test")
    if torch.cuda.is_available():
        _, seconds, steps, _ = _model_predictor(model, "cuda")(test, {}, test_features)
        scalars["inference_ms_per_step_gpu"] = 1e3 * seconds / steps
    # Not in a periodic box: a turned box is another box, and the data no longer its physics.
    periodic = len(ds.attrs.get("box", ())) > 0
    if test_features is not None and int(ds.attrs.get("space_dim", 0)) >= 2 and not periodic:
        turned = rotated(test, int(ds.attrs["particles"]), int(ds.attrs["space_dim"]))
        scalars["rotated_one_step_error"] = one_step_error(model, turned, test_features)
    windows = true_windows(model, test)[:STRUCTURE_WINDOWS]
    given = window_features(model, test, test_features)
    structure = map_structure_errors(
        model,
        windows[:, : model.input_steps],
        ds.attrs["canonical"],
        None if given is None else given[:STRUCTURE_WINDOWS],
    )
    training_diverged = train_summary.get("status") == "diverged"
    scalars = {
        **_identity(ds, train_summary, model_name),
        **scalars,
        **structure,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_time_s": train_summary["wall_time_s"],
        "epochs": train_summary["epochs"],
        **{key: train_summary.get(key) for key in CONVERGENCE_KEYS},
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(),  # the rollouts' (the job's OMP_NUM_THREADS)
        "training_diverged": training_diverged,
        "diverged": training_diverged or scalars["diverged"],
    }
    if model.diagnostics():  # e.g. implicit solves of the rollouts that did not converge
        scalars["diagnostics"] = model.diagnostics()
    if budgets is not None:
        final = {k: _finite_or_none(v) for k, v in scalars.items() if k.startswith("val_error_t")}
        spent = {"epoch": train_summary["epochs"], "step": train_summary["steps"]}
        spent["wall_s"] = train_summary["wall_time_s"]
        scalars["budget_curve"] = [*budget_curve(budgets, ds, data, settings), {**spent, **final}]
    return _finish(curves, scalars, ds)


def _score_other_particles(curves, scalars, data, settings, model=None, checkpoint=None, at=None):
    """Add the store's test_ood split at another N (`particle_ood`), if it has one: the model
    rebuilt at that N from `checkpoint` (or the integrator predictor `at(system)`). The
    curves of that split hold the errors only (its states are wider than the store's)."""
    group = open_group(data)
    if group is None:
        return curves, scalars
    spec = spec_from_store(group)
    scalars["ood_particles"] = spec.particles
    scalars["train_particles"] = int(group.attrs["trained_particles"])
    if at is not None:
        predict, one_step = at(group)
    else:
        reason = skip_reason(model.name, model.requires, model.spec.dim, spec.particles)
        if reason is None:
            try:
                model = load_model(checkpoint, spec)
            except RuntimeError as err:  # weights whose shapes depend on N
                reason = (
                    f"{plugin_label(model)}: its weights do not fit N = {spec.particles} ({err})"
                )
        if reason is not None:
            scalars["ood_skipped"] = reason
            return curves, scalars
        predict = _model_predictor(model)

        def one_step(truth, _, features):
            return one_step_error(model, truth, features)

    part, extra = _score(group, data, predict, settings, one_step, {"test_ood": "ood_"})
    scalars.update(extra)
    part = part.drop_vars(["state_pred", "dof"])
    return xr.concat([curves, part], dim="trajectory"), scalars


def _identity(ds: xr.Dataset, train_summary: dict, model_name: str) -> dict:
    """Which run the scalars describe: system, model name, plugin, family, seed."""
    return {
        "system": ds.attrs["system"],
        "model": model_name,
        "plugin": train_summary["plugin"],
        "family": train_summary.get("family", "other"),
        "seed": train_summary["seed"],
    }


def failed_evaluation(data: Path, train_summary: dict, model_name: str):
    """The evaluation outputs of a run whose training failed (`status: failed`): no curves,
    and scalars that carry the reason to the reports."""
    ds = open_store(data)
    curves = xr.Dataset(attrs={"status": "failed"})
    scalars = {
        **_identity(ds, train_summary, model_name),
        "status": "failed",
        "failure": train_summary["failure"],
        "final_error": None,
        "training_diverged": False,
        "diverged": False,
    }
    curves, scalars = _finish(curves, scalars, ds)
    curves.attrs["status"] = "failed"
    return curves, scalars


def rotated(states: np.ndarray, particles: int, space_dim: int, seed: int = 0) -> np.ndarray:
    """Particle states `(..., D)` with every position and momentum turned by one fixed random
    rotation (a seeded orthogonal matrix of determinant 1): the same physics, seen from
    another angle. A rotation-equivariant model's relative error does not change."""
    gauss = np.random.default_rng(seed).normal(size=(1, space_dim, space_dim))
    turn = haar_rotations(torch.from_numpy(gauss))[0].numpy()
    vectors = states.reshape(*states.shape[:-1], 2 * particles, space_dim)
    return (vectors @ turn.T).reshape(states.shape).astype(states.dtype)


# What training recorded about its stop (phasebench.convergence), carried into the scalars.
CONVERGENCE_KEYS = ("stop_reason", "best_epoch", "late_improvement", "converged")


def evaluate_integrator(data: Path, integrator: str, settings: dict):
    """Score the system's own `integrator`, one step per saved sample, as a reference row."""
    ds = open_store(data)
    dt = float(ds.attrs["dt"])

    def at(store):  # the predictor and one-step error of the system of a store (or group)
        system = build_system(store.attrs["system"], json.loads(store.attrs["parameters"]))

        def one_step(truth, swept, features):
            start = truth[:, :-1].reshape(-1, truth.shape[-1]).astype(np.float64)
            per_start = {k: np.repeat(v, truth.shape[1] - 1) for k, v in swept.items()}
            if features is not None:
                features = np.repeat(features, truth.shape[1] - 1, axis=0)
            field = system.for_trajectories(per_start).with_features(features).vector_field
            step = INTEGRATORS[integrator](field, start, dt, 1, 1)[:, 1]
            return float(relative_error(step, truth[:, 1:].reshape(step.shape)).mean())

        return _integrator_predictor(system, integrator, dt), one_step

    predict, one_step = at(ds)
    curves, scalars = _score(ds, data, predict, settings, one_step)
    curves, scalars = _score_other_particles(curves, scalars, data, settings, at=at)
    scalars = {
        "system": ds.attrs["system"],
        "model": f"numerical: {integrator}",
        "plugin": integrator,
        "family": "numerical method",
        "seed": 0,
        **scalars,
        "parameters": 0,
        "train_time_s": 0.0,
        "epochs": 0,
        "training_diverged": False,
    }
    return _finish(curves, scalars, ds)


def write_results(result: xr.Dataset, scalars: dict, zarr_path: Path, json_path: Path) -> None:
    write_store(result, Path(zarr_path))
    Path(json_path).write_text(json.dumps(scalars, indent=2))
