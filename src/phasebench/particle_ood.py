"""An out-of-distribution split by the number of particles: train at N, test at another N.

A store's state has one width (2·N·d), so the `test_ood` trajectories at the other N
(`ood_particles` in the config's system entry) live in a Zarr group of the same store,
`{system}.zarr/ood_particles`: the same system, parameters (density, temperature, …), dt,
steps and integrator, only N differs. The root then holds no test_ood trajectories; the group's
trajectory numbers continue the root's. Training never reads the group; evaluation scores it
as the `test_ood` split ("ood_" scalars) with the model rebuilt at that N from the same
weights, and skips a model whose weights fix the state's width (a flattened-state model).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from phasebench.simulation import simulate
from phasebench.system import System, build_system

GROUP = "ood_particles"
MIN_TRAJECTORIES = 4  # the fewest a store is simulated with (the config's minimum)


def simulate_store(system: System, settings: dict) -> tuple[xr.Dataset, dict[str, xr.Dataset]]:
    """The store's Dataset and its groups: {} unless `settings["ood_particles"]` is set, then
    the root without test_ood and the group of test_ood trajectories at that N."""
    particles = settings.get("ood_particles")
    if not particles:
        return simulate(system, settings), {}
    root = simulate(system, {**settings, "ood_fraction": 0.0})
    n = max(MIN_TRAJECTORIES, round(settings.get("ood_fraction", 0.0) * root.sizes["trajectory"]))
    other = build_system(system.name, {**system.params, "particles": particles})
    # In-distribution states at another N; no reference re-integration (the root's checks
    # the integrator, and the reference solver is slow at thousands of particles).
    group = simulate(
        other,
        {**settings, "n_trajectories": n, "ood_fraction": 0.0, "reference_trajectories": 0},
    )
    group["split"][:] = "test_ood"
    first = root.sizes["trajectory"]
    group = group.assign_coords(trajectory=np.arange(first, first + group.sizes["trajectory"]))
    group.attrs["trained_particles"] = system.particles
    return root, {GROUP: group}


def open_group(store: Path) -> xr.Dataset | None:
    """The store's test_ood split at another N, in memory, or None where it has none."""
    if not (Path(store) / GROUP).is_dir():
        return None
    return xr.open_zarr(store, group=GROUP, consolidated=False).load()


def skip_reason(plugin: str, requires, dim: int, particles: int) -> str | None:
    """Why a model cannot run at another N, or None: one that does not require particles
    reads the flattened state, whose width its weights fix."""
    if "particles" in requires:
        return None
    return (
        f"{plugin} reads the flattened state (its weights fix its width, {dim} values), so it "
        f"cannot run at N = {particles}: not scored on the test_ood split"
    )


def n_split_summary(scalars) -> str:
    """Markdown for the system report: the N of each split and the models skipped at the
    other N (an empty string where the system has no split by N)."""
    if "ood_particles" not in scalars or scalars["ood_particles"].isna().all():
        return ""
    rows = scalars.dropna(subset=["ood_particles"])
    trained, other = int(rows["train_particles"].iloc[0]), int(rows["ood_particles"].iloc[0])
    text = (
        f"**Split by N:** train, val and test hold N = {trained} particles, test_ood holds "
        f"N = {other} (the same density and temperature), scored with the weights trained "
        f"at N = {trained}."
    )
    if "ood_one_step_error" in scalars:  # mean over seeds, per model
        errors = scalars.dropna(subset=["ood_one_step_error"])
        errors = errors.groupby("model", sort=False)[["one_step_error", "ood_one_step_error"]]
        lines = [
            f"| {model} | {row.one_step_error:.3g} | {row.ood_one_step_error:.3g} | "
            f"{row.ood_one_step_error / row.one_step_error:.2f} |"
            for model, row in errors.mean().iterrows()
        ]
        text += (
            f"\n\n| model | one-step error, N = {trained} | one-step error, N = {other} | "
            "ratio |\n| --- | --- | --- | --- |\n" + "\n".join(lines) + "\n\n"
            "In a periodic box the positions are unwrapped, and their norm grows faster with N "
            "than a model's error (the box side grows too): the relative error falls at larger "
            "N by itself. Compare a model's ratio with the numerical methods' ratios."
        )
    if "ood_skipped" in scalars:
        skipped = scalars.dropna(subset=["ood_skipped"]).drop_duplicates("model")
        text += "\n\n" + "\n".join(
            f"- **{r.model}**: {r.ood_skipped}" for r in skipped.itertuples()
        )
    return text
