"""Cross-check with the VPT paper's own code: GeometricMachineLearning.jl's trained rigid-body
weights (benchmarks/data/gml_rigid_body_weights.json), loaded into phasebench's `vpff` and `vpt`,
predict the rigid body as well as GML's training left them (relative loss 7e-4 and 1.7e-3).
A layer that differed from GML's (the order of the triangular weights, which layers carry a bias,
the block order, the Cayley convention) would give losses of order 0.1 to 1, like untrained
weights."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from phasebench.integrators import implicit_midpoint
from phasebench.losses import relative
from phasebench.model import build_model
from phasebench.spec import SystemSpec
from phasebench.system import build_system
from phasebench.training import windows

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "vpt_gml_differences.py"
RIGID = SystemSpec("rigid_body", 3, ("z1", "z2", "z3"), False, 0.2)


@pytest.fixture(scope="module")
def gml():
    spec = importlib.util.spec_from_file_location("vpt_gml_differences", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def trajectories():
    """Every 25th of the paper's 1238 initial conditions, t ∈ [0, 20] at h = 0.2 (GML's data)."""
    body = build_system("rigid_body")
    states = implicit_midpoint(body.vector_field, body.reference_initial_states()[::25], 0.2, 100)
    return torch.from_numpy(states.astype(np.float32))


def loss(model, states) -> float:
    w = windows(states, model.input_steps, model.output_steps)
    with torch.no_grad():
        return float(relative(model(w.tensors[0]), w.tensors[1]))


def test_gml_matrix_follows_gmls_storage_order(gml):
    # GML's docstrings: LowerTriangular([1..6], 4) fills row by row, UpperTriangular column by
    # column (src/arrays/lower_triangular.jl, upper_triangular.jl).
    lower = gml.gml_matrix("lower", [1, 2, 3, 4, 5, 6], 4)
    upper = gml.gml_matrix("upper", [1, 2, 3, 4, 5, 6], 4)
    assert lower.tolist() == [[0, 0, 0, 0], [1, 0, 0, 0], [2, 3, 0, 0], [4, 5, 6, 0]]
    assert upper.tolist() == [[0, 1, 2, 4], [0, 0, 3, 5], [0, 0, 0, 6], [0, 0, 0, 0]]


@pytest.mark.parametrize(
    ("plugin", "attention", "trained", "untrained"),
    [("vpff", None, 1e-3, 0.05), ("vpt", "gml", 2.5e-3, 0.05), ("vpt", "identity", 2.5e-3, 0.05)],
)
def test_gml_weights_fit_the_rigid_body_in_phasebench(
    gml, trajectories, plugin, attention, trained, untrained
):
    torch.manual_seed(0)
    fresh = build_model(plugin, RIGID, gml.HPARAMS[plugin])
    assert loss(fresh, trajectories) > untrained  # the check can tell a model that never learnt
    model = gml.gml_model(plugin, RIGID, attention)
    with gml.reference_path():
        assert loss(model, trajectories) < trained
    if attention != "gml":  # phasebench's own fast path computes the same map
        assert loss(model, trajectories) < trained


def test_gml_standard_transformer_has_gmls_blocks(gml):
    # GML's parameterlength: MultiHeadAttention 3·M², each ResNetLayer M(M + 1); a block is the
    # attention and ResNet(M, n_blocks = 2) = two tanh layers and a linear one; L = 3 blocks.
    m, blocks = 3, 3
    model = gml.gml_standard_transformer(RIGID, torch.Generator().manual_seed(0))
    assert sum(p.numel() for p in model.parameters()) == blocks * (3 * m**2 + 3 * m * (m + 1))
    resnet = model.body.layers[0].feedforward
    x = torch.randn(5, 3, m)
    y = x
    for layer in resnet.nonlinear:
        y = y + torch.tanh(y @ layer.weight.T + layer.bias)
    y = y + y @ resnet.linear.weight.T + resnet.linear.bias
    torch.testing.assert_close(x + resnet(x), y)
    # Glorot uniform for a 3 × 3 weight: U(±√(6 / (3 + 3))) = U(±1); biases zero.
    weights = torch.cat([p.flatten() for n, p in model.named_parameters() if "weight" in n])
    assert weights.abs().max() <= 1 and weights.abs().max() > 0.9
    assert all(not p.any() for n, p in model.named_parameters() if "bias" in n)
