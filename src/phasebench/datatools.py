"""`phasebench data show` and `phasebench data check`: read a store back and judge it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from phasebench.data import (
    SPLITS,
    bind_trajectories,
    open_store,
    trajectory_parameters,
)
from phasebench.errors import DataError
from phasebench.system import build_system
from phasebench.validation import relative_invariant_errors


def _fixed_parameters(ds) -> str:
    """The system's parameters, swept ones named as such."""
    params, swept = json.loads(ds.attrs["parameters"]), trajectory_parameters(ds)
    return ", ".join(f"{k} = {'swept' if k in swept else v}" for k, v in params.items())


def summary(path: Path) -> str:
    ds = open_store(path)
    splits = {s: int((ds["split"] == s).sum()) for s in SPLITS}
    lines = [
        f"{path}",
        f"  system        {ds.attrs['system']}  {_fixed_parameters(ds)}",
        f"  integrator    {ds.attrs['integrator']}, dt = {ds.attrs['dt']}, "
        f"{ds.attrs['substeps']} substeps",
        f"  size          {ds.sizes['trajectory']} trajectories × {ds.sizes['time']} steps × "
        f"{ds.sizes['dof']} dof ({', '.join(map(str, ds['dof'].values))}), "
        f"{ds['state'].dtype}",
        f"  splits        {', '.join(f'{s} {n}' for s, n in splits.items() if n)}",
        _time_line(ds),
        *_particle_lines(ds),
        *_split_by_n_lines(path),
        f"  invariants    {', '.join(json.loads(ds.attrs['invariants']))}",
    ]
    for name, values in trajectory_parameters(ds).items():
        ranges = [
            f"{s} [{v.min():.3g}, {v.max():.3g}]"
            for s in SPLITS
            if len(v := values[(ds["split"] == s).values])
        ]
        lines.append(f"  swept {name:<7} per trajectory: {', '.join(ranges)}")
    checks = {k: v for k, v in ds.attrs.items() if k.startswith(("max_rel_", "reference_"))}
    lines += [f"  {key:<34} {value:.2e}" for key, value in checks.items()]
    lines.append(
        f"  validation    {ds.attrs.get('validation', 'none')} (tolerance "
        f"{ds.attrs.get('invariant_tolerance', '?')})"
    )
    provenance = ("phasebench_version", "git_commit", "config_hash", "created")
    lines += [f"  {key:<13} {ds.attrs.get(key)}" for key in provenance]
    return "\n".join(lines)


def _start(ds) -> tuple[float, int, float]:
    """start_time, burn_in and the time the store should begin at, start_time + burn_in·dt
    (stores made before start_time existed lack it: 0)."""
    start_time, burn_in = float(ds.attrs.get("start_time", 0.0)), int(ds.attrs.get("burn_in", 0))
    return start_time, burn_in, start_time + burn_in * float(ds.attrs["dt"])


def _time_line(ds) -> str:
    (first, *_, last), (start_time, burn_in, _) = ds["time"].values, _start(ds)
    return (
        f"  time          t = {first:g} … {last:g} after the initial state (start_time "
        f"{start_time:g}, then burn_in {burn_in} saved steps unstored)"
    )


def _split_by_n_lines(path) -> list[str]:
    """The test_ood split at another N (`particle_ood`), where the store has one."""
    from phasebench.particle_ood import GROUP, open_group

    group = open_group(path)
    if group is None:
        return []
    return [
        f"  test_ood      {group.sizes['trajectory']} trajectories at N = "
        f"{int(group.attrs['particles'])} (group {GROUP}), max relative energy error "
        f"{group.attrs['max_rel_energy_error']:.2e}"
    ]


def _particle_lines(ds) -> list[str]:
    """What `data show` says of a particle store: the layout and each feature's values."""
    if "particle_features" not in ds:
        return []
    n, d = int(ds.attrs["particles"]), int(ds.attrs["space_dim"])
    lines = [f"  particles     {n} in {d}D: positions then momenta, particle by particle"]
    for i, name in enumerate(map(str, ds["feature"].values)):
        values = ds["particle_features"].values[..., i]
        distinct = np.unique(values)
        shown = (
            ", ".join(f"{v:g}" for v in distinct)
            if len(distinct) <= 4
            else f"[{values.min():.3g}, {values.max():.3g}]"
        )
        lines.append(f"  feature {name:<5} per particle: {shown}")
    return lines


def check(path: Path) -> list[str]:
    """Re-validate a store from its contents; returns what is wrong (empty: all good)."""
    ds = open_store(path)
    problems = []
    states = ds["state"].values.astype(np.float64)
    if not np.isfinite(states).all():
        problems.append("non-finite states")
    labels = set(map(str, ds["split"].values))
    if not labels <= set(SPLITS) or not {"train", "val", "test"} <= labels:
        problems.append(f"splits {sorted(labels)} are not train/val/test(/test_ood)")
    steps = np.diff(ds["time"].values)
    if not np.allclose(steps, ds.attrs["dt"]):
        problems.append(f"time steps differ from dt = {ds.attrs['dt']}")
    if not np.isclose(ds["time"].values[0], first := _start(ds)[2]):
        problems.append(
            f"time begins at {ds['time'].values[0]:g}, not start_time + burn_in·dt = {first:g}"
        )
    try:
        system = build_system(ds.attrs["system"], json.loads(ds.attrs["parameters"]))
    except Exception as err:
        raise DataError(
            f"{path}: its system '{ds.attrs['system']}' cannot be built: {err}"
        ) from None
    tolerance = float(ds.attrs.get("invariant_tolerance", 1e-3))
    if system.particle_system and "particle_features" not in ds:
        problems.append("particle system without its particle_features variable")
        return problems
    bound = bind_trajectories(system, ds, trailing=1)
    scales = bound.invariant_scales(states[:, :1])
    for name, errors in relative_invariant_errors(bound.invariants(states), scales).items():
        # Stored float32 states carry rounding errors of about 1e-7 of their own.
        if errors.max() > tolerance + 1e-6:
            problems.append(f"relative {name} error {errors.max():.2e} exceeds {tolerance:.0e}")
    return problems
