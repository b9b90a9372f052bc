"""Simulation speed: phasebench's vectorised integrator against a scipy loop, and Zarr writes.

1000 trajectories × 1000 saved steps (dt = 0.1) of the 50-dof oscillator chain; phasebench's
default (Yoshida order 4, 2 substeps, all trajectories at once; timed alone and as the whole
`simulate`, with sampling, validation and the Dataset) against
scipy.integrate.solve_ivp (DOP853, rtol = atol = 1e-10) one trajectory at a time. Both must
keep the maximum relative energy error below 1e-6.

    python benchmarks/simulate_speed.py [--trajectories 1000] [--scipy-trajectories 1000]

`--lennard-jones` times the particle system instead: 64 trajectories of N = 1024 particles,
1000 velocity-Verlet steps of h = 0.005 (the default: 250 saved samples of dt = 0.02, 4
substeps), the integrator alone and the whole `simulate` (sampling, energies at every saved
state, validation), into benchmarks/results/simulate_speed_lennard_jones.json. Wall and CPU
seconds both, and the load average: on a shared machine the CPU time is the honest number
(a single-threaded run on an idle core takes about its CPU time). `--baseline-steps 100`
(the default; 0 skips it) also times the old path (benchmarks/lennard_jones_baseline.py) and
the new one on the same first steps, one after the other, for their ratio.
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from lennard_jones_baseline import integrate as baseline_integrate
from scipy.integrate import solve_ivp

from phasebench.config import resolve, simulate_settings
from phasebench.data import write_store
from phasebench.integrators import INTEGRATORS
from phasebench.simulation import simulate
from phasebench.system import build_system


def energy_error(system, states) -> float:
    energy = system.hamiltonian(states)
    return float(np.max(np.abs(energy - energy[:, :1]) / np.abs(energy[:, :1])))


def timed(run):
    """The result of `run()`, its wall seconds and its CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def lennard_jones(trajectories: int, particles: int, steps: int, baseline_steps: int) -> dict:
    """Seconds to integrate and to simulate `trajectories` × `particles` Lennard-Jones
    particles for `steps` velocity-Verlet steps (the default dt and substeps), and the old
    path against the new on the first `baseline_steps`."""
    system = build_system("lennard_jones", {"particles": particles})
    substeps, dt = system.default_substeps, system.default_dt
    entry = {
        "name": "lennard_jones",
        "params": {"particles": particles},
        "n_trajectories": trajectories,
        "n_steps": steps // substeps,
        "ood_fraction": 0.0,
        "reference_trajectories": 0,
    }
    settings = simulate_settings(resolve({"systems": [entry]})["systems"]["lennard_jones"])
    load_before = os.getloadavg()[0]
    ds, simulate_s, simulate_cpu_s = timed(lambda: simulate(system, settings))
    x0 = ds["state"].values[:, 0].astype(np.float64)

    def bound():
        return system.with_features(np.ones((trajectories, particles, 1)))

    new = bound()
    field = INTEGRATORS["stormer_verlet"]
    _, integrate_s, integrate_cpu_s = timed(
        lambda: field(new.vector_field, x0, dt, steps // substeps, substeps)
    )
    searched = new._neighbours("field").searched
    result = {
        "system": "lennard_jones",
        "trajectories": trajectories,
        "particles": particles,
        "verlet_steps": steps,
        "step_h": dt / substeps,
        "saved_steps": steps // substeps,
        "integrate_s": integrate_s,
        "integrate_cpu_s": integrate_cpu_s,
        "neighbour_searches_per_trajectory": searched / trajectories,
        "simulate_s": simulate_s,
        "simulate_cpu_s": simulate_cpu_s,
        "max_rel_energy_error": ds.attrs["max_rel_energy_error"],
        "max_rel_momentum_x_error": ds.attrs["max_rel_momentum_x_error"],
        "particle_steps_per_cpu_s": trajectories * particles * steps / integrate_cpu_s,
    }
    if baseline_steps:
        short = baseline_steps // substeps
        (old_end, old_searches), old_s, old_cpu_s = timed(
            lambda: baseline_integrate(system, x0, dt, short, substeps)
        )
        again = bound()
        new_path, new_s, new_cpu_s = timed(
            lambda: field(again.vector_field, x0, dt, short, substeps)
        )
        result["baseline"] = {
            "verlet_steps": short * substeps,
            "old_s": old_s,
            "old_cpu_s": old_cpu_s,
            "old_neighbour_searches": old_searches,
            "new_s": new_s,
            "new_cpu_s": new_cpu_s,
            "speedup_wall": old_s / new_s,
            "speedup_cpu": old_cpu_s / new_cpu_s,
            "max_abs_state_difference": float(np.abs(new_path[:, -1] - old_end).max()),
        }
    result["load_average_1min"] = [load_before, os.getloadavg()[0]]  # before and after
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lennard-jones", action="store_true")
    parser.add_argument("--particles", type=int, default=1024)
    parser.add_argument("--trajectories", type=int, default=1000)
    parser.add_argument("--scipy-trajectories", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--baseline-steps", type=int, default=100)
    parser.add_argument("--out", default="benchmarks/results/simulate_speed.json")
    args = parser.parse_args()
    if args.lennard_jones:
        out = Path(args.out.replace("simulate_speed.json", "simulate_speed_lennard_jones.json"))
        trajectories = 64 if args.trajectories == 1000 else args.trajectories
        result = lennard_jones(trajectories, args.particles, args.steps, args.baseline_steps)
        save(result, out)
        return

    system = build_system("oscillator_chain")
    entry = {
        "name": "oscillator_chain",
        "n_trajectories": args.trajectories,
        "n_steps": args.steps,
        "ood_fraction": 0.0,
        "reference_trajectories": 0,
    }
    settings = simulate_settings(resolve({"systems": [entry]})["systems"]["oscillator_chain"])

    start = time.perf_counter()
    ds = simulate(system, settings)
    ours_s = time.perf_counter() - start
    ours_error = energy_error(system, ds["state"].values.astype(np.float64))
    # The float32 store rounds at ~1e-7; measure the integrator itself in float64 too.
    ours_error = min(ours_error, ds.attrs["max_rel_energy_error"])

    # The integrator alone, without sampling, validation and the Dataset.
    start = time.perf_counter()
    INTEGRATORS[settings["integrator"] or system.default_integrator](
        system.vector_field,
        ds["state"].values[:, 0].astype(np.float64),
        0.1,
        args.steps,
        system.default_substeps,
    )
    integrate_s = time.perf_counter() - start

    x0 = ds["state"].values[: args.scipy_trajectories, 0].astype(np.float64)
    times = ds["time"].values
    start = time.perf_counter()
    reference = []
    for state in x0:
        sol = solve_ivp(
            lambda t, x: system.vector_field(x[None])[0],
            (0, times[-1]),
            state,
            method="DOP853",
            t_eval=times,
            rtol=1e-10,
            atol=1e-10,
        )
        reference.append(sol.y.T)
    scipy_s = time.perf_counter() - start
    scipy_error = energy_error(system, np.array(reference))
    scipy_per_trajectory = scipy_s / len(x0)

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_store(ds, Path(tmp) / "chain.zarr")
        write_s = time.perf_counter() - start
    megabytes = ds["state"].nbytes / 2**20

    result = {
        "trajectories": args.trajectories,
        "saved_steps": args.steps,
        "dof": system.dim,
        "phasebench_simulate_s": ours_s,
        "phasebench_integrate_s": integrate_s,
        "phasebench_max_rel_energy_error": ours_error,
        "scipy_trajectories": len(x0),
        "scipy_s": scipy_s,
        "scipy_s_per_trajectory": scipy_per_trajectory,
        "scipy_max_rel_energy_error": scipy_error,
        "speedup_simulate": scipy_per_trajectory * args.trajectories / ours_s,
        "speedup_integrate": scipy_per_trajectory * args.trajectories / integrate_s,
        "zarr_write_s": write_s,
        "zarr_state_mb": megabytes,
        "zarr_mb_per_s": megabytes / write_s,
    }
    save(result, Path(args.out))


def save(result: dict, out: Path, indent: str = "") -> None:
    for key, value in result.items():
        if isinstance(value, dict):
            print(f"{indent}{key}:")
            save(value, None, indent + "  ")
        else:
            text = f"{value:.4g}" if isinstance(value, float) else value
            print(f"{indent}{key:<34} {text}")
    if out is None:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"saved {out}")


if __name__ == "__main__":
    main()
