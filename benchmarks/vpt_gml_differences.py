"""Where phasebench's VPT reproduction differs from GeometricMachineLearning.jl (GML), measured.

Two parts, both on a rigid-body store made by configs/vpt-rigid-body.yaml or
configs/vpt-paper-schedule.yaml (`results/data/rigid_body.zarr`):

  gml-weights  GML's own trained rigid-body weights (benchmarks/data/gml_rigid_body_weights.json,
               see benchmarks/extract_gml_weights.py) loaded into phasebench's `vpff` and `vpt`
               and rolled out by phasebench's evaluation: does phasebench's model, data and metric
               give the paper's numbers with the paper's weights?
  init         short controlled trainings (same seed, data order and steps) of phasebench's
               initialisation, 0.1·N(0, 1) weights, against GML's, Glorot uniform
               U(±√(6/n)) for every weight vector of length n (U(±√2) here), biases zero in both.
  transformer  the paper's standard transformer as configs/vpt-paper-schedule.yaml builds it
               (each block: attention, then one x ↦ x + tanh(Wx + b); 117 parameters) against
               GML's StandardTransformerIntegrator (each block: attention, then two of those and
               a linear x ↦ x + Wx + b; Glorot initialisation; 189 parameters), both trained with
               the paper's decay squeezed into --steps steps (η from 1e-2 to 1e-6).

    python benchmarks/vpt_gml_differences.py STORE gml-weights
    python benchmarks/vpt_gml_differences.py STORE init --plugin vpt --steps 2000
    python benchmarks/vpt_gml_differences.py STORE transformer --steps 20000

Each part merges its numbers into benchmarks/results/vpt_gml_differences.json (--out).
"""

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from phasebench.data import load_split, open_store
from phasebench.fastpath import optimiser, reference_path
from phasebench.layers import TriangularLayer, VolumePreservingAttention
from phasebench.layers.attention import MultiHeadAttention
from phasebench.layers.transformer import LieTrotterLayer
from phasebench.losses import relative
from phasebench.metrics import relative_error
from phasebench.model import build_model
from phasebench.training import spec_from_store, windows

HORIZONS = (14.0, 50.0, 100.0)
PAPER = {"vpt": (0.005, 0.04, 0.2), "vpff": (0.04, 0.15, 1.2)}  # REFERENCE.md, ±5%
HPARAMS = {
    "vpt": {"window": 3, "layers": 3, "n_blocks": 2},
    "vpff": {"n_blocks": 6},
    # configs/vpt-paper-schedule.yaml's standard transformer
    "transformer": {
        "window": 3, "depth": 3, "heads": 1, "embed": 0, "ff_width": 0, "add_connection": False
    },
}  # fmt: skip
WEIGHTS = Path(__file__).parent / "data" / "gml_rigid_body_weights.json"
# GML's script (scripts/volume_preserving_transformer/rigid_body.jl) and its figures use this
# initial condition, (sin 1.1, 0, cos 1.1): one of the 1238 training trajectories.
GML_VALIDATION_STATE = (math.sin(1.1), 0.0, math.cos(1.1))


def plotted_trajectory(ds) -> np.ndarray:
    """The store's trajectory from `GML_VALIDATION_STATE`, as a batch of one (1, steps, 3)."""
    everything = np.asarray(ds["state"].values, dtype=np.float32)
    one = int(np.argmin(np.linalg.norm(everything[:, 0] - GML_VALIDATION_STATE, axis=1)))
    return everything[one : one + 1]


# ---------------------------------------------------------------- GML's weights in phasebench


def gml_matrix(kind: str, entries: list[float], n: int) -> torch.Tensor:
    """GML's LowerTriangular / UpperTriangular(S, n) as a dense matrix: lower S row by row,
    upper S column by column (GML's getindex)."""
    m = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for j in range(n):
            if kind == "lower" and i > j:
                m[i, j] = entries[i * (i - 1) // 2 + j]
            if kind == "upper" and j > i:
                m[i, j] = entries[j * (j - 1) // 2 + i]
    return m


def load_triangular(layer: TriangularLayer, entry: dict) -> None:
    m = gml_matrix(entry["kind"], entry["S"], layer.dim)
    where = layer.entries > 0
    is_lower = bool(torch.tril(where, -1).equal(where))
    if is_lower != (entry["kind"] == "lower") or (layer.bias is None) != (entry["bias"] is None):
        raise ValueError(
            f"GML layer {entry['kind']} (bias {entry['bias'] is not None}) "
            f"does not match phasebench's {layer}"
        )
    with torch.no_grad():
        layer.weights[layer.entries[where] - 1] = m[where].to(layer.weights.dtype)
        if layer.bias is not None:
            layer.bias.copy_(torch.tensor(entry["bias"]))


class GMLArbitraryAttention(nn.Module):
    """GML's VolumePreservingAttention with `skew_sym = false` (the weights it ships):
    C_ij = z_iᵀ A z_j / √d for i > j and C = −Cᵀ, then X ↦ (I − C)⁻¹(I + C) X in the (T, d)
    layout, i.e. Z ↦ Z Cayley(C). Batch-major (B, T, d) only; run under `reference_path()`."""

    def __init__(self, a: torch.Tensor):
        super().__init__()
        self.register_buffer("a", a)

    def forward(self, x):
        scores = x @ self.a @ x.transpose(-1, -2) / math.sqrt(x.shape[-1])
        lower = torch.tril(scores, -1)
        c = lower - lower.transpose(-1, -2)
        eye = torch.eye(x.shape[-2], dtype=x.dtype)
        return torch.linalg.solve(eye - c, (eye + c) @ x)


def gml_model(plugin: str, spec, attention: str):
    """phasebench's `plugin` holding GML's trained weights. `attention` (vpt only): "gml" runs
    GML's arbitrary-weighting attention with its trained A; "identity" sets phasebench's skew
    attention to zero weights, so that only the feed-forward parts act."""
    layers = json.loads(WEIGHTS.read_text())[plugin]
    model = build_model(plugin, spec, HPARAMS[plugin])
    triangular = [m for m in model.modules() if isinstance(m, TriangularLayer)]
    ff = [e for e in layers if e["kind"] != "attention"]
    if len(triangular) != len(ff):
        raise ValueError(f"{plugin}: {len(ff)} GML feed-forward layers, {len(triangular)} here")
    for layer, entry in zip(triangular, ff, strict=True):
        load_triangular(layer, entry)
    gml_attention = iter(torch.tensor(e["A"]) for e in layers if e["kind"] == "attention")
    for parent in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for name, child in list(parent.named_children()):
            if isinstance(child, VolumePreservingAttention):
                if attention == "gml":
                    setattr(parent, name, GMLArbitraryAttention(next(gml_attention)))
                else:
                    with torch.no_grad():
                        child.weights.zero_()
    return model.eval()


def finite(x: float, digits: int) -> float | None:
    """A rounded number for the JSON report; None where a rollout diverged."""
    return round(float(x), digits) if math.isfinite(x) else None


def rollout_errors(model, truth: np.ndarray, time_axis: np.ndarray) -> dict:
    """Mean relative error over the trajectories at the paper's horizons; the Casimir ‖z‖ (1 at
    the start) at t = 100, its mean and range over the trajectories (a drift whose sign differs
    between trajectories averages out), and its largest value at any time. None where a
    rollout diverged."""
    k = model.input_steps
    with torch.no_grad(), reference_path():
        prediction = model.rollout(torch.from_numpy(truth[:, :k]).float(), truth.shape[1] - k)
    with np.errstate(over="ignore", invalid="ignore"):
        error = relative_error(prediction.numpy(), truth).mean(axis=0)
        norm = np.linalg.norm(prediction.numpy(), axis=-1)
    end = norm[:, np.searchsorted(time_axis, 100.0)]
    at = {f"error_t{h:g}": finite(error[np.searchsorted(time_axis, h)], 5) for h in HORIZONS}
    return at | {
        "casimir_norm_t100": finite(end.mean(), 4),
        "casimir_norm_t100_range": [finite(end.min(), 4), finite(end.max(), 4)],
        "casimir_norm_peak": finite(norm.max(), 4),
    }


def window_loss(model, states: np.ndarray, train_horizon_steps: int) -> float:
    """The relative loss over every training-horizon window of `states` (one batch)."""
    w = windows(
        torch.from_numpy(states[:, :train_horizon_steps]), model.input_steps, model.output_steps
    )
    with torch.no_grad(), reference_path():
        return float(relative(model(w.tensors[0]), w.tensors[1]))


def gml_weights(ds) -> dict:
    spec, time_axis = spec_from_store(ds), ds["time"].values
    steps = int((time_axis <= ds.attrs["train_horizon"]).sum())
    splits = {"paper_ics_train": load_split(ds, "train"), "held_out_test": load_split(ds, "test")}
    plotted = plotted_trajectory(ds)
    out = {}
    for plugin, attention in (("vpff", None), ("vpt", "gml"), ("vpt", "identity")):
        name = plugin if attention is None else f"{plugin}_attention_{attention}"
        model = gml_model(plugin, spec, attention)
        entry = {"val_window_loss": round(window_loss(model, load_split(ds, "val"), steps), 6)}
        for split, truth in splits.items():
            entry[split] = rollout_errors(model, truth, time_axis)
        entry["gml_validation_trajectory"] = rollout_errors(model, plotted, time_axis)
        entry["paper"] = PAPER[plugin]
        out[name] = entry
        print(name, json.dumps(entry))
    return out


# ---------------------------------------------------------------- initialisation, trained


def glorot_uniform_(model: nn.Module, generator: torch.Generator) -> None:
    """GML's initialiser: every weight vector of length n from U(±√(6/n)); biases zero."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, TriangularLayer | VolumePreservingAttention):
                n = module.weights.numel()
                bound = math.sqrt(6 / n)
                module.weights.uniform_(-bound, bound, generator=generator)


class GMLResNet(nn.Module):
    """GML's ResNet(dim, n_blocks, tanh) as the feed-forward part of a `LieTrotterLayer` (which
    adds its input back): n_blocks of y ↦ y + tanh(Wy + b), then y ↦ y + Wy + b; returns the
    result minus the input."""

    def __init__(self, dim: int, n_blocks: int):
        super().__init__()
        self.nonlinear = nn.ModuleList(nn.Linear(dim, dim) for _ in range(n_blocks))
        self.linear = nn.Linear(dim, dim)

    def forward(self, x):
        y = x
        for layer in self.nonlinear:
            y = y + torch.tanh(layer(y))
        return y + self.linear(y) - x


def gml_standard_transformer(spec, generator: torch.Generator):
    """phasebench's paper transformer with GML's blocks: StandardTransformerIntegrator(3;
    n_heads = 1, L = 3, n_blocks = 2, add_connection = false), as GML's rigid-body script builds
    it (the attention scaled by 1/√3, as GML's was at the paper's time), Glorot-uniform weights,
    zero biases."""
    model = build_model("transformer", spec, HPARAMS["transformer"])
    dim, depth = spec.dim, HPARAMS["transformer"]["depth"]
    model.body.layers = nn.Sequential(
        *(
            LieTrotterLayer(MultiHeadAttention(dim, 1, add_connection=False), GMLResNet(dim, 2))
            for _ in range(depth)
        )
    )
    with torch.no_grad():
        for module in model.body.layers.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight, generator=generator)
                if module.bias is not None:
                    module.bias.zero_()
    return model


def train_short(
    ds, plugin: str, init: str, steps: int, seed: int, batch: int, decay_steps: int = 500_000
) -> dict:
    """`steps` Adam steps of the paper's schedule (η_k = 1e-2·1e-4^(k/decay_steps),
    β = (0.9, 0.99), ε = 1e-8, relative loss, batch 16384) from phasebench's or GML's
    initialisation (`init` "phasebench" or "glorot"), or, for `init` "gml-blocks", of GML's
    standard transformer (`gml_standard_transformer`)."""
    spec, time_axis = spec_from_store(ds), ds["time"].values
    horizon = int((time_axis <= ds.attrs["train_horizon"]).sum())
    torch.manual_seed(seed)
    if init == "gml-blocks":
        model = gml_standard_transformer(spec, torch.Generator().manual_seed(seed))
    else:
        model = build_model(plugin, spec, HPARAMS[plugin])
    if init == "glorot":
        glorot_uniform_(model, torch.Generator().manual_seed(seed))
    train = windows(
        torch.from_numpy(load_split(ds, "train")[:, :horizon]),
        model.input_steps,
        model.output_steps,
    )
    training = {"lr": 1e-2, "betas": (0.9, 0.99), "eps": 1e-8}
    adam = optimiser(model.parameters(), training)
    decay = torch.optim.lr_scheduler.ExponentialLR(adam, 1e-4 ** (1 / decay_steps))
    order = torch.Generator().manual_seed(seed)  # the same batches for both initialisations
    done, curve, start = 0, [], time.perf_counter()
    while done < steps:
        for index in torch.randperm(len(train), generator=order).split(batch):
            loss = relative(model(train.tensors[0][index]), train.tensors[1][index])
            adam.zero_grad()
            loss.backward()
            adam.step()
            decay.step()
            done += 1
            if done % 250 == 0:
                curve.append({"step": done, "train_loss": round(float(loss.detach()), 6)})
            if done == steps:
                break
    model.eval()
    return {
        "plugin": plugin,
        "init": init,
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": steps,
        "decay_steps": decay_steps,
        "seed": seed,
        "wall_s": round(time.perf_counter() - start, 1),
        "val_window_loss": round(window_loss(model, load_split(ds, "val"), horizon), 6),
        "held_out_test": rollout_errors(model, load_split(ds, "test"), time_axis),
        "gml_validation_trajectory": rollout_errors(model, plotted_trajectory(ds), time_axis),
        "curve": curve,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("store", type=Path)
    parser.add_argument("part", choices=("gml-weights", "init", "transformer"))
    parser.add_argument("--plugin", choices=("vpt", "vpff"), default="vpt")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=16384)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/vpt_gml_differences.json")
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ds = open_store(args.store)
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    report["store"] = {"path": str(args.store), "config_hash": ds.attrs.get("config_hash")}
    if args.part == "gml-weights":
        report["gml_weights"] = gml_weights(ds)
    else:
        # The standard transformer trains over a whole (squeezed) schedule; `init` over the
        # first steps of the paper's.
        plugin, inits, decay = (
            ("transformer", ("phasebench", "gml-blocks"), args.steps)
            if args.part == "transformer"
            else (args.plugin, ("phasebench", "glorot"), 500_000)
        )
        runs = report.setdefault(args.part, {})
        for init in inits:
            result = train_short(ds, plugin, init, args.steps, args.seed, args.batch, decay)
            runs[f"{plugin}_{init}_{args.steps}steps_seed{args.seed}"] = result
            print(json.dumps({k: v for k, v in result.items() if k != "curve"}), flush=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
