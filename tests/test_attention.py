"""Linear-attention library: estimator bias and variance (statistical, fixed seeds, float64)
and exactness of the linear forms against their quadratic forms."""

import math

import pytest
import torch

from phasebench.attention import (
    KernelAttention,
    LearnedFeatures,
    RandomProjection,
    exp_features,
    hybrid_features,
    linear_attention,
    masked_features,
    positive_features,
    projection,
    quadratic_attention,
    relu_features,
    trig_features,
)
from phasebench.layers import MultiHeadAttention

D, L = 16, 32


def gen(seed):
    return torch.Generator().manual_seed(seed)


def qk(seed, scale=D**-0.5, length=L, d=D):
    g = gen(seed)
    q = torch.randn(length, d, generator=g, dtype=torch.float64) * scale
    k = torch.randn(length, d, generator=g, dtype=torch.float64) * scale
    return q, k, g


def rel(est, exact):
    return ((est - exact).norm() / exact.norm()).item()


def positive_estimate(q, k, w):
    return positive_features(q, w) @ positive_features(k, w).T


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kind", ["iid", "orthogonal"])
def test_positive_features_unbiased(kind, seed):
    # The mean of n draws of m features equals one draw of n·m features, so a huge m tests the
    # Monte-Carlo mean; expected error here ≈ 0.013, a biased projection gives ≈ 0.08.
    q, k, g = qk(seed)
    assert rel(positive_estimate(q, k, projection(2**16, D, kind, g)), torch.exp(q @ k.T)) < 0.03


@pytest.mark.parametrize("kind", ["rademacher", "fixed_norm"])
def test_biased_projections_have_a_floor(kind):
    q, k, g = qk(0)
    exact = torch.exp(q @ k.T)
    assert rel(positive_estimate(q, k, projection(2**16, D, kind, g)), exact) > 0.05
    # ... while at small m they are no worse than iid, so the bias is what stops the fall.
    small = median_error(q, k, 16, kind, g, 20)
    iid = median_error(q, k, 16, "iid", g, 20)
    assert small < 1.2 * iid, (small, iid)


def median_error(q, k, m, kind, g, draws):
    exact = torch.exp(q @ k.T)
    errs = [rel(positive_estimate(q, k, projection(m, D, kind, g)), exact) for _ in range(draws)]
    return torch.tensor(errs).median().item()


def test_error_slope_is_minus_half():
    q, k, g = qk(2, length=64)
    ms = [16, 64, 256, 1024]
    errs = [median_error(q, k, m, "iid", g, 30) for m in ms]
    slope = (math.log(errs[-1]) - math.log(errs[0])) / (math.log(ms[-1]) - math.log(ms[0]))
    assert -0.6 < slope < -0.4, (errs, slope)


def test_orthogonal_not_worse_than_iid():
    q, k, g = qk(3, length=64)
    for m in (16, 64):
        iid = median_error(q, k, m, "iid", g, 60)
        orth = median_error(q, k, m, "orthogonal", g, 60)
        assert orth <= iid * 1.02, (m, iid, orth)


def test_orthogonal_blocks_are_orthogonal_with_chi_norms():
    w = projection(2 * D, D, "orthogonal", gen(4))
    block = w[:D] / w[:D].norm(dim=1, keepdim=True)
    assert torch.allclose(block @ block.T, torch.eye(D, dtype=w.dtype), atol=1e-12)
    norms = projection(4096, D, "orthogonal", gen(5)).norm(dim=1)
    # χ_D: E[r²] = D.
    assert abs((norms**2).mean().item() - D) < 0.05 * D


def test_trig_features_unbiased():
    q, k, g = qk(6)
    w = projection(2**16, D, "iid", g)
    assert rel(trig_features(q, w) @ trig_features(k, w).T, torch.exp(q @ k.T)) < 0.02


def test_hybrid_unbiased():
    q, k, g = qk(7)
    exact = torch.exp(q @ k.T)
    draws = []
    for _ in range(32):
        ws = (projection(512, D, "iid", g), projection(512, D, "iid", g))
        phi_q, phi_k = hybrid_features(q, k, *ws, projection(32, D, "iid", g))
        draws.append(phi_q @ phi_k.T)
    single = rel(draws[0], exact)
    mean = rel(torch.stack(draws).mean(0), exact)
    # Averaging 32 draws of an unbiased estimator divides its error by ≈ √32 ≈ 5.7.
    assert mean < 0.03 and mean < single / 3, (single, mean)


def test_masked_kernel_unbiased_and_non_negative():
    q, k, g = qk(8)
    v = torch.randn(L, 3, generator=g, dtype=torch.float64)
    exact = torch.exp(q @ k.T) * (torch.relu(v) @ torch.relu(v).T)
    w = projection(2**16, D, "iid", g)
    est = masked_features(q, v, w) @ masked_features(k, v, w).T
    assert (est >= 0).all()
    assert rel(est, exact) < 0.03


def features_for_attention(kind, q, k, g):
    if kind == "relu":
        return relu_features(q), relu_features(k)
    if kind == "exp":
        return exp_features(q), exp_features(k, over=(-2, -1))
    w = projection(64, q.shape[-1], "orthogonal", g)
    return positive_features(q, w), positive_features(k, w)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("kind", ["relu", "exp", "favor"])
def test_linear_attention_equals_quadratic_form(kind, causal):
    g = gen(9)
    q, k, v = (torch.randn(2, 3, 20, 8, generator=g, dtype=torch.float64) for _ in range(3))
    phi_q, phi_k = features_for_attention(kind, q, k, g)
    fast = linear_attention(phi_q, phi_k, v, causal=causal)
    slow = quadratic_attention(phi_q, phi_k, v, causal=causal)
    assert torch.allclose(fast, slow, atol=1e-6, rtol=0)
    if causal:
        # The first output only sees the first value.
        assert torch.allclose(fast[..., 0, :], v[..., 0, :], atol=1e-6)


def test_stabilised_favor_approximates_softmax_and_survives_large_logits():
    # The kernel module's max-subtraction must cancel: with many features the FAVOR+ attention
    # matrix (v = I) is close to softmax's, and logits of size ~1e4 (exp overflows) stay finite.
    g = gen(10)
    torch.manual_seed(10)
    q, k = (0.35 * torch.randn(1, 50, 8, generator=g, dtype=torch.float64) for _ in range(2))
    eye = torch.eye(50, dtype=torch.float64).unsqueeze(0)
    favor = KernelAttention(8, "favor", m=4096, projection="orthogonal").double()
    exact = torch.softmax(q @ k.transpose(-2, -1), -1)
    out = favor(q, k, eye, scale=1.0)
    w = favor.features().double()
    plain = linear_attention(positive_features(q, w), positive_features(k, w), eye, eps=1e-6)
    # The offsets cancel (up to the eps that guards the denominator).
    assert torch.allclose(out, plain, atol=1e-4)
    assert rel(out, exact) < 0.1  # per-entry error ≈ √(e^{‖q+k‖²}/m) ≈ 0.04
    huge = favor(q * 300, k * 300, eye, scale=1.0)
    assert torch.isfinite(huge).all()
    assert not torch.isfinite(torch.exp((q * 300) @ (k * 300).transpose(-2, -1))).all()


def test_stabilised_exp_kernel_is_the_exp_kernel_and_survives_large_logits():
    # Performer-exp weighs key j by Σᵢ exp(qᵢ) exp(kⱼᵢ): the max-subtraction must leave those
    # weights as they are (a per-key offset rescaled each key: 13 points lost on the digits).
    g = gen(12)
    q, k = (torch.randn(2, 30, 8, generator=g, dtype=torch.float64) for _ in range(2))
    eye = torch.eye(30, dtype=torch.float64).expand(2, 30, 30)
    out = KernelAttention(8, "exp")(q, k, eye, scale=1.0)
    exact = quadratic_attention(torch.exp(q), torch.exp(k), eye)
    assert torch.allclose(out, exact, atol=1e-6)
    huge = KernelAttention(8, "exp")(q * 300, k * 300, eye, scale=1.0)
    assert torch.isfinite(huge).all()


def test_learned_features_start_at_favor():
    f = LearnedFeatures(D, 32).double()
    x = torch.randn(5, D, dtype=torch.float64)
    assert torch.allclose(f(x), positive_features(x, f.weight), atol=1e-12)
    f(x).sum().backward()
    assert f.weight.grad is not None and f.log_scale.grad is not None


def test_redraw_policy():
    rp = RandomProjection(8, 4, redraw_every=2).train()
    first = rp().clone()
    assert torch.equal(rp(), first)
    assert not torch.equal(rp(), first)
    frozen = rp.eval()().clone()
    assert torch.equal(rp(), frozen)


def test_unknown_projection_is_one_sentence():
    with pytest.raises(ValueError, match="unknown projection 'gauss'"):
        projection(4, 4, "gauss")


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("kernel", ["softmax", "relu", "exp", "favor", "learned"])
def test_multi_head_attention_with_each_kernel(kernel, causal):
    torch.manual_seed(0)
    attn = MultiHeadAttention(8, 2, kernel=KernelAttention(4, kernel, m=16, causal=causal))
    attn = attn.double()
    x = torch.randn(3, 10, 8, dtype=torch.float64)
    y = attn(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    y.sum().backward()
    if causal:
        # Changing the last position leaves every earlier output unchanged.
        x2 = x.clone()
        x2[:, -1] += 1.0
        assert torch.allclose(attn(x2)[:, :-1], y[:, :-1], atol=1e-10)


def test_favor_heads_approximate_softmax_heads_with_the_same_projections():
    torch.manual_seed(1)
    soft = MultiHeadAttention(16, 1, add_connection=False).double()
    favor = MultiHeadAttention(
        16, 1, add_connection=False, kernel=KernelAttention(16, "favor", m=4096)
    ).double()
    favor.load_state_dict(soft.state_dict(), strict=False)
    x = torch.randn(2, 12, 16, dtype=torch.float64) * 0.3
    assert rel(favor(x), soft(x)) < 0.05
    # ReLU features are a different kernel: far from softmax with the same projections.
    relu = MultiHeadAttention(16, 1, add_connection=False, kernel=KernelAttention(16, "relu"))
    relu.double().load_state_dict(soft.state_dict(), strict=False)
    assert rel(relu(x), soft(x)) > 0.1


def test_unknown_kernel_is_one_sentence():
    with pytest.raises(ValueError, match="unknown attention kernel 'gauss': expected one of"):
        KernelAttention(4, "gauss")


def test_trained_pool_reads_the_queries_of_a_trained_transformer(tiny_store, tmp_path):
    # The study hooks the attention layer's forward; the fast path must not bypass it.
    from phasebench.studies.attention_kernels import trained_pool
    from phasebench.training import train

    from conftest import TINY_TRAINING

    hparams = {"depth": 1, "heads": 2, "embed": 8, "ff_width": 8}
    train(tiny_store, tmp_path, "transformer", hparams, TINY_TRAINING, seed=0)
    pool = trained_pool(tmp_path / "best.ckpt", tiny_store, max_windows=50)
    assert pool.queries.shape == pool.keys.shape == (50 * 3, 4)  # 50 windows of 3 tokens, d/h
    assert torch.isfinite(pool.queries).all() and pool.queries.abs().sum() > 0


@pytest.mark.parametrize("kernel", ["softmax", "relu", "favor"])
def test_multi_head_attention_is_each_head_on_its_own_projections(kernel):
    """The heads run as one batched kernel call; each must still see only its own queries,
    keys and values, and its output must land in its own slice."""
    torch.manual_seed(0)
    attn = MultiHeadAttention(12, 3, add_connection=False, kernel=KernelAttention(4, kernel, m=8))
    attn = attn.double()
    x = torch.randn(2, 5, 12, dtype=torch.float64)
    heads = [
        attn.kernel(q(x), k(x), v(x), attn.scale)
        for q, k, v in zip(attn.query, attn.key, attn.value, strict=True)
    ]
    assert torch.allclose(attn.plain(x), torch.cat(heads, dim=-1), atol=1e-12)
