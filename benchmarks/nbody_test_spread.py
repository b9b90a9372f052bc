"""How much of the EGNN table's comparison is the test set: the spread of a test position MSE
over 2000 regenerated test trajectories, beside the gap to the paper.

    python benchmarks/nbody_test_spread.py RESULTS_DIR [RESULTS_DIR ...] [--out FILE.json]

For each model evaluated on `nbody_charged` (runs found in the RESULTS_DIRs, which must share one
data store), the per-trajectory position MSE at the target frame, averaged over the model's
seeds, gives the test MSE, a bootstrap 95 % interval over the test trajectories (the spread a
different draw of 2000 test trajectories would give), its relative standard error, and the share
of the MSE carried by the worst 1 % of trajectories (close encounters). The paper's test set is
one such draw, so its numbers carry the same spread. The linear baseline x + τv is also fitted in
closed form on the training pairs (least squares over τ), as a check that needs no training.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import xarray as xr

PAPER = {"linear": 0.0819, "gnn": 0.0107, "egnn": 0.0071}
SYSTEM = "nbody_charged"
DRAWS = 4000  # bootstrap resamples


def positions(states: np.ndarray, particles: int, space_dim: int) -> np.ndarray:
    """The position half of canonical states (all positions, then all momenta)."""
    return states[..., : particles * space_dim]


def bootstrap(per_trajectory: np.ndarray, rng: np.random.Generator) -> dict:
    n = len(per_trajectory)
    means = per_trajectory[rng.integers(0, n, (DRAWS, n))].mean(1)
    mse = float(per_trajectory.mean())
    worst = np.sort(per_trajectory)[-max(1, n // 100) :]
    return {
        "test_position_mse": mse,
        "ci95": [float(v) for v in np.percentile(means, [2.5, 97.5])],
        "relative_standard_error": float(means.std() / mse),
        "worst_1pct_share": float(worst.sum() / per_trajectory.sum()),
        "trajectories": n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    data = xr.open_zarr(args.results[0] / f"data/{SYSTEM}.zarr").load()
    particles = int(json.loads(data.attrs["parameters"])["particles"])
    space_dim = int(json.loads(data.attrs["parameters"])["space_dim"])
    test = data.trajectory[data.split == "test"].values
    start, target = data.state.sel(trajectory=test).isel(time=0), data.state.sel(trajectory=test)
    truth = positions(target.isel(time=-1).values, particles, space_dim)
    rng = np.random.default_rng(0)
    models: dict[str, list[np.ndarray]] = {}
    for results in args.results:
        for store in sorted((results / f"eval/{SYSTEM}").glob("*/seed*.zarr")):
            evaluation = xr.open_zarr(store)
            if evaluation.attrs["data_config_hash"] != data.attrs["config_hash"]:
                raise SystemExit(f"{store}: evaluated on other data than {args.results[0]}")
            predicted = evaluation.state_pred.sel(trajectory=test).isel(time=-1).values
            error = ((positions(predicted, particles, space_dim) - truth) ** 2).mean(-1)
            models.setdefault(store.parent.name, []).append(error)
    rows = {}
    for model, errors in sorted(models.items()):
        rows[model] = {"seeds": len(errors), **bootstrap(np.mean(errors, axis=0), rng)}
    # x + τv, τ by least squares on the training pairs: the `linear` plugin's optimum.
    train = data.state.sel(trajectory=data.trajectory[data.split == "train"].values).values
    moved = positions(train[:, -1] - train[:, 0], particles, space_dim).ravel()
    velocity = train[:, 0, particles * space_dim :].ravel()
    tau = float(moved @ velocity / (velocity @ velocity))
    x0 = start.values
    straight = positions(x0, particles, space_dim) + tau * x0[:, particles * space_dim :]
    rows["linear (closed form)"] = {
        "tau": tau,
        **bootstrap(((straight - truth) ** 2).mean(-1), rng),
    }
    for model, row in rows.items():
        paper = PAPER.get(model.split(" ")[0])
        inside = paper is not None and row["ci95"][0] <= paper <= row["ci95"][1]
        row["paper"] = paper
        row["paper_inside_ci95"] = inside if paper is not None else None
        low, high = row["ci95"]
        print(
            f"{model:24s} {row['test_position_mse']:.4f} (95 % {low:.4f}–{high:.4f}, "
            f"±{100 * row['relative_standard_error']:.1f} %), worst 1 % carry "
            f"{100 * row['worst_1pct_share']:.0f} %; paper {paper}"
        )
    if args.out:
        times = [float(t) for t in data.time.values]
        summary = {"system": SYSTEM, "times": times, "draws": DRAWS, "models": rows}
        args.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
