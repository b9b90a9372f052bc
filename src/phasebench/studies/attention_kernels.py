"""Attention-kernel study: relative Frobenius error ‖Â − A‖_F/‖A‖_F of the unnormalised
attention matrix A = exp(QKᵀ) for each estimator, over many independent draws.

Each draw redraws both the queries/keys and the features, so the spread covers both.
"""

import math

import torch

from phasebench.attention.features import hybrid_features, positive_features, trig_features
from phasebench.attention.projections import projection

# The estimators compared at equal m (hybrid spends m/2 positive + m/4 trig pairs, r = 8 signs).
ESTIMATORS = ("iid", "orthogonal", "rademacher", "fixed_norm", "trig", "hybrid")


class TokenPool:
    """Queries and keys recorded from a trained model, already scaled by the square root of
    its softmax temperature, so that its attention matrix is exp(QKᵀ) like the synthetic ones."""

    def __init__(self, queries: torch.Tensor, keys: torch.Tensor):
        self.queries, self.keys = queries.double(), keys.double()
        self.dim = queries.shape[-1]

    def sample(self, length, g):
        """`length` queries and `length` keys, drawn independently with replacement."""
        n = self.queries.shape[0]
        return (
            self.queries[torch.randint(n, (length,), generator=g)],
            self.keys[torch.randint(n, (length,), generator=g)],
        )


def trained_pool(checkpoint, data, head=0, max_windows=4096, seed=0) -> TokenPool:
    """Queries and keys of one head of the first attention layer of a trained model, over
    windows of the test trajectories of the data it was trained on."""
    from phasebench.data import load_split, open_store
    from phasebench.evaluation import load_model
    from phasebench.fastpath import reference_path
    from phasebench.layers import MultiHeadAttention
    from phasebench.model import sliding_windows

    model = load_model(checkpoint)
    attention = next((m for m in model.modules() if isinstance(m, MultiHeadAttention)), None)
    if attention is None:
        raise ValueError(f"{checkpoint}: the model has no MultiHeadAttention layer to study")
    states = torch.as_tensor(load_split(open_store(data), "test", str(data)))
    windows = sliding_windows(states, model.input_steps)
    g = torch.Generator().manual_seed(seed)
    windows = windows[torch.randperm(len(windows), generator=g)[:max_windows]]
    seen = []
    hook = attention.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    # The plain path runs every layer through its own forward, so the hook sees the tokens
    # (the fast path calls a chain's feature-major forms directly).
    with torch.no_grad(), reference_path():
        model(windows.to(next(model.parameters()).dtype))
        hook.remove()
        x = seen[0]
        root_scale = attention.scale**0.5
        q = attention.query[head](x) * root_scale
        k = attention.key[head](x) * root_scale
    return TokenPool(q.reshape(-1, q.shape[-1]), k.reshape(-1, k.shape[-1]))


def sample_qk(dist, length, d, g):
    """Queries and keys from a named distribution (float64), or drawn from a TokenPool."""
    if isinstance(dist, TokenPool):
        return dist.sample(length, g)
    shape = (2, length, d)
    if dist == "normal_1/d":  # N(0, I/d): entries of variance 1/d
        x = torch.randn(shape, generator=g, dtype=torch.float64) / math.sqrt(d)
    elif dist == "normal_1/sqrt_d":  # N(0, I/√d)
        x = torch.randn(shape, generator=g, dtype=torch.float64) / d**0.25
    elif dist == "spiky":  # mostly N(0, I/d), a few entries 10× larger
        x = torch.randn(shape, generator=g, dtype=torch.float64) / math.sqrt(d)
        spikes = torch.rand(shape, generator=g, dtype=torch.float64) < 0.02
        x = torch.where(spikes, x * 10, x)
    else:
        raise ValueError(f"unknown query/key distribution {dist!r}")
    return x[0], x[1]


def estimate(name, q, k, m, g):
    """Â for one draw of estimator `name` with m features."""
    d = q.shape[-1]
    if name == "trig":
        w = projection(max(m // 2, 1), d, "iid", g)  # 2 features per row
        return trig_features(q, w) @ trig_features(k, w).T
    if name == "hybrid":
        w_pos = projection(max(m // 2, 1), d, "iid", g)
        w_trig = projection(max(m // 4, 1), d, "iid", g)
        phi_q, phi_k = hybrid_features(q, k, w_pos, w_trig, projection(8, d, "iid", g))
        return phi_q @ phi_k.T
    w = projection(m, d, name, g)
    return positive_features(q, w) @ positive_features(k, w).T


def errors(name, dist, m, length, d, draws, seed):
    """Relative Frobenius errors of `draws` independent draws."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(draws):
        q, k = sample_qk(dist, length, d, g)
        exact = torch.exp(q @ k.T)
        out.append(((estimate(name, q, k, m, g) - exact).norm() / exact.norm()).item())
    return torch.tensor(out)


def summary(errs):
    """Median and the 25–75 % spread."""
    return {
        "median": errs.median().item(),
        "q25": errs.quantile(0.25).item(),
        "q75": errs.quantile(0.75).item(),
    }


def slope(ms, medians):
    """Least-squares slope of log(median error) against log(m)."""
    x, y = torch.tensor(ms, dtype=torch.float64).log(), torch.tensor(medians).log()
    x = x - x.mean()
    return (x * (y - y.mean())).sum().item() / (x * x).sum().item()


def angle_errors(name, theta, m, d, draws, seed):
    """Errors of κ̂(q, k) for unit-norm-ish q, k at angle θ (single pair, relative, absolute)."""
    g = torch.Generator().manual_seed(seed)
    e1 = torch.zeros(d, dtype=torch.float64)
    e1[0] = 1.0
    e2 = torch.zeros(d, dtype=torch.float64)
    e2[0], e2[1] = math.cos(theta), math.sin(theta)
    q, k = e1[None], e2[None]
    exact = math.exp(math.cos(theta))
    return torch.tensor(
        [abs(estimate(name, q, k, m, g).item() - exact) / exact for _ in range(draws)]
    )


def learned_errors(m, length, d, draws, seed, steps=200, dist="normal_1/d"):
    """Fit f_θ (started at FAVOR+) to exp(QKᵀ) on fresh draws, then its errors on new draws.

    The learned map is one fixed map, so its spread comes from the queries/keys alone.
    """
    from phasebench.attention.features import LearnedFeatures

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    f = LearnedFeatures(d, m).double()
    opt = torch.optim.Adam(f.parameters(), lr=1e-2)
    for _ in range(steps):
        q, k = sample_qk(dist, length, d, g)
        exact = torch.exp(q @ k.T)
        loss = (f(q) @ f(k).T - exact).norm() / exact.norm()
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = []
    with torch.no_grad():
        for _ in range(draws):
            q, k = sample_qk(dist, length, d, g)
            exact = torch.exp(q @ k.T)
            out.append(((f(q) @ f(k).T - exact).norm() / exact.norm()).item())
    return torch.tensor(out)
