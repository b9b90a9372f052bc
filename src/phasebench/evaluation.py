"""Long autoregressive rollouts on the test split and the errors that judge them.

Loads checkpoints with plain torch (no Lightning), so an evaluation job starts fast.
"""

from __future__ import annotations

import json
import math
import resource
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from phasebench.data import load_split, open_store, write_store
from phasebench.errors import DataError
from phasebench.model import ModelPlugin, build_model
from phasebench.spec import SystemSpec
from phasebench.system import build_system

FORMAT = "phasebench-evaluation/1"


def load_model(checkpoint: Path) -> ModelPlugin:
    """The trained plugin from a `best.ckpt` written by `phasebench.training`."""
    checkpoint = Path(checkpoint)
    if not checkpoint.exists():
        raise DataError(f"{checkpoint}: no such checkpoint; the train rule writes it")
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    hp = state["hyper_parameters"]
    model = build_model(hp["plugin"], SystemSpec.from_dict(hp["spec"]), hp["hparams"])
    weights = {k.removeprefix("model."): v for k, v in state["state_dict"].items()}
    model.load_state_dict(weights)
    return model.eval()


def relative_error(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """‖x̂ − x‖ / ‖x‖ per state, over the last axis."""
    return np.linalg.norm(prediction - truth, axis=-1) / np.linalg.norm(truth, axis=-1)


def one_step_error(model: ModelPlugin, truth: np.ndarray) -> float:
    """Mean relative error of predictions from true windows (teacher forcing)."""
    k, m = model.input_steps, model.output_steps
    states = torch.from_numpy(truth)
    cut = states.unfold(1, k + m, 1).permute(0, 1, 3, 2).reshape(-1, k + m, states.shape[-1])
    with torch.no_grad():
        prediction = model(cut[:, :k]).numpy()
    return float(relative_error(prediction, cut[:, k:].numpy()).mean())


def valid_time(error: np.ndarray, time_axis: np.ndarray, threshold: float) -> np.ndarray:
    """Per trajectory, the first time its error exceeds `threshold` (the end if never)."""
    beyond = ~(error <= threshold)  # NaN counts as beyond
    first = np.where(beyond.any(axis=1), beyond.argmax(axis=1), len(time_axis) - 1)
    return time_axis[first]


def _finite_or_none(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def evaluate(checkpoint: Path, data: Path, settings: dict, train_summary: dict, model_name: str):
    """Roll out every test trajectory from its first window to its end.

    Returns the per-step errors as a Dataset and the scalar metrics as a dict.
    """
    model = load_model(checkpoint)
    ds = open_store(data)
    system = build_system(ds.attrs["system"], json.loads(ds.attrs["parameters"]))
    truth = load_split(ds, "test", str(data))
    time_axis = ds["time"].values
    k = model.input_steps

    start = time.perf_counter()
    prediction = model.rollout(torch.from_numpy(truth[:, :k]), truth.shape[1] - k).numpy()
    rollout_s = time.perf_counter() - start
    model_calls = math.ceil((truth.shape[1] - k) / model.output_steps)

    error = relative_error(prediction, truth)
    energy0 = system.hamiltonian(truth[:, :1].astype(np.float64))
    with np.errstate(over="ignore", invalid="ignore"):
        energy = system.hamiltonian(prediction.astype(np.float64))
        energy_error = np.abs(energy - energy0) / np.abs(energy0)
    mean_error, mean_energy_error = error.mean(axis=0), energy_error.mean(axis=0)

    scalars = {
        "system": ds.attrs["system"],
        "model": model_name,
        "plugin": train_summary["plugin"],
        "seed": train_summary["seed"],
        "one_step_error": one_step_error(model, truth),
        "final_error": mean_error[-1],
        "valid_time": float(np.median(valid_time(error, time_axis, settings["valid_threshold"]))),
        "final_energy_error": mean_energy_error[-1],
        # Growth of the relative energy error per unit time (least squares slope).
        "energy_drift": np.polyfit(time_axis, mean_energy_error, 1)[0]
        if np.isfinite(mean_energy_error).all()
        else math.inf,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_time_s": train_summary["wall_time_s"],
        "epochs": train_summary["epochs"],
        "inference_ms_per_step": 1e3 * rollout_s / model_calls,
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "diverged": not bool(np.isfinite(prediction).all()),
        "rollout_steps": int(truth.shape[1] - k),
        "test_trajectories": int(truth.shape[0]),
    }
    for horizon in settings["horizons"]:
        if horizon <= time_axis[-1]:
            index = int(np.searchsorted(time_axis, horizon))
            scalars[f"error_t{horizon:g}"] = mean_error[index]
    scalars = {
        key: _finite_or_none(v) if isinstance(v, float | np.floating) else v
        for key, v in scalars.items()
    }

    test_index = ds["trajectory"].values[(ds["split"] == "test").values]
    result = xr.Dataset(
        {
            "rel_error": (("trajectory", "time"), error),
            "energy_error": (("trajectory", "time"), energy_error),
            "state_pred": (("trajectory", "time", "dof"), prediction.astype(np.float32)),
        },
        coords={"trajectory": test_index, "time": ds["time"], "dof": ds["dof"].values},
        attrs={
            "format": FORMAT,
            "system": ds.attrs["system"],
            "data_config_hash": ds.attrs.get("config_hash", ""),
            "scalars": json.dumps(scalars),
        },
    )
    return result, scalars


def write_results(result: xr.Dataset, scalars: dict, zarr_path: Path, json_path: Path) -> None:
    write_store(result, Path(zarr_path))
    Path(json_path).write_text(json.dumps(scalars, indent=2))
