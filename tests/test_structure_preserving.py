"""SympNets and the HNN keep the structure they promise; canonical-only plugins skip others."""

import pytest
import torch
from torch.autograd.functional import jacobian

from phasebench.config import resolve
from phasebench.model import build_model
from phasebench.spec import SystemSpec

from conftest import snakemake

SPEC = SystemSpec("oscillator", 4, ("q1", "q2", "p1", "p2"), True, 0.4)
J = torch.tensor([[0, 0, 1, 0], [0, 0, 0, 1], [-1, 0, 0, 0], [0, -1, 0, 0]], dtype=torch.float64)


def random_model(name: str, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(name, SPEC, {}).double()
    with torch.no_grad():  # random weights everywhere, not only at the initialisation's scale
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return model


def step_jacobian(model, x):
    return jacobian(lambda y: model(y.view(1, 1, 4)).view(4), x)


@pytest.mark.parametrize("name", ["la_sympnet", "g_sympnet"])
@pytest.mark.parametrize("seed", [0, 1])
def test_sympnets_are_symplectic_for_random_weights(name, seed):
    model = random_model(name, seed)
    for x in torch.randn(3, 4, dtype=torch.float64):
        m = step_jacobian(model, x)
        torch.testing.assert_close(m.T @ J @ m, J, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["la_sympnet", "g_sympnet"])
def test_sympnets_are_invertible(name):
    model = random_model(name)
    x = torch.randn(16, 1, 4, dtype=torch.float64)
    torch.testing.assert_close(model.net.inverse(model(x)), x, rtol=0, atol=1e-12)


def test_hnn_field_conserves_its_energy_and_is_divergence_free():
    model = random_model("hnn")
    for x in torch.randn(4, 4, dtype=torch.float64):
        grad = torch.autograd.functional.jacobian(lambda y: model.hamiltonian(y), x)
        field = model.field(x[None])[0]
        assert abs(float((grad @ field).detach())) < 1e-10  # ∇H · J∇H = 0
        divergence = torch.trace(jacobian(lambda y: model.field(y[None])[0], x))
        assert abs(float(divergence)) < 1e-10


def trained_size_hnn():
    """An HNN in float64 with weights of a trained run's size: a trained `hnn` on the coupled
    oscillator has hidden and output weights 2× and 4× their initial norms."""
    torch.manual_seed(0)
    model = build_model("hnn", SPEC, {}, torch.float64)
    with torch.no_grad():
        model.energy[2].weight.mul_(2.0)
        model.energy[4].weight.mul_(4.0)
    return model


def test_trained_size_hnn_step_is_symplectic_to_roundoff():
    # Four fixed sweeps of the implicit midpoint rule left ‖JᵀΩJ − Ω‖ at 1e-5 here.
    model = trained_size_hnn()
    for x in torch.randn(4, 4, dtype=torch.float64):
        m = step_jacobian(model, x)
        assert (m.T @ J @ m - J).abs().max() <= 1e-10
    log = model.diagnostics()
    assert log["implicit_solves"] > 0 and log["implicit_unconverged"] == 0


def test_hnn_solve_that_hits_its_cap_is_recorded():
    model = trained_size_hnn()
    model.max_iterations = 2
    model(torch.randn(3, 1, 4, dtype=torch.float64))
    log = model.diagnostics()
    assert log["implicit_solves"] == model.substeps
    assert log["implicit_unconverged"] == model.substeps
    assert 0 < log["implicit_worst_unconverged_change"] < 1


def test_hnn_step_keeps_its_learned_energy_better_than_an_explicit_step():
    """The implicit midpoint step is symplectic: over many steps H_θ stays near its start,
    where explicit Euler steps of the same size drift away."""
    model = random_model("hnn")
    x0 = torch.randn(8, 4, dtype=torch.float64)
    path = model.rollout(x0[:, None], 50)[:, -1]
    euler, h = x0, model.spec.dt / model.substeps
    for _ in range(50 * model.substeps):
        euler = (euler + h * model.field(euler)).detach()

    def drift(x):
        return float(((model.hamiltonian(x) - model.hamiltonian(x0)).abs()).max().detach())

    assert drift(path) < 0.1 * drift(euler)


def test_canonical_only_models_are_skipped_on_the_rigid_body(workflow_copy):
    models = ["resnet", "la_sympnet", "g_sympnet", "hnn"]
    plan = resolve({"systems": ["coupled_oscillator", "rigid_body"], "models": models})
    runs = {(r["system"], r["model"]) for r in plan["runs"]}
    assert {("coupled_oscillator", m) for m in models} <= runs
    assert ("rigid_body", "resnet") in runs
    skipped = {(s["system"], s["model"]): s["reason"] for s in plan["skipped"]}
    assert skipped == {
        ("rigid_body", m): f"{m} requires canonical, which rigid_body lacks"
        for m in ["la_sympnet", "g_sympnet", "hnn"]
    }
    # The DAG holds no training job for a skipped pair.
    (workflow_copy / "pair.yaml").write_text(
        "systems: [coupled_oscillator, rigid_body]\nmodels: [resnet, hnn]\nseeds: [0]\n"
        "evaluation: {horizons: [10.0]}\n"  # config.yaml's 40 lies beyond the rigid body's data
    )
    dry = snakemake(workflow_copy, "-n", "--configfile", "pair.yaml")
    assert dry.returncode == 0, dry.stderr
    assert "results/runs/rigid_body/resnet/seed0/best.ckpt" in dry.stdout
    assert "results/runs/coupled_oscillator/hnn/seed0/best.ckpt" in dry.stdout
    assert "results/runs/rigid_body/hnn" not in dry.stdout
