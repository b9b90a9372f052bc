"""Softmax (scaled_dot_product_attention) vs linear attention: forward and forward+backward
time and peak memory over sequence length L, and the crossover length where linear wins.

    python benchmarks/attention_speed.py [--lengths 256 1024 4096 16384] [--device cpu]
        [--out benchmarks/results/attention_speed.json]

Peak memory is measured on CUDA only (torch.cuda.max_memory_allocated); on CPU it is null.
"""

import argparse
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from phasebench.attention import linear_attention, positive_features, projection, relu_features


def favor(q, k, v, w, causal):
    lq = q @ w.T - 0.5 * (q * q).sum(-1, keepdim=True)
    lk = k @ w.T - 0.5 * (k * k).sum(-1, keepdim=True)
    phi_q = positive_features(q, w, lq.amax(-1, keepdim=True).detach())
    phi_k = positive_features(k, w, lk.amax(dim=(-2, -1), keepdim=True).detach())
    return linear_attention(phi_q, phi_k, v, causal=causal)


def methods(d, m, device):
    w = projection(m, d, "orthogonal", dtype=torch.float32).to(device)
    return {
        "softmax_sdpa": lambda q, k, v, c: F.scaled_dot_product_attention(q, k, v, is_causal=c),
        "performer_relu": lambda q, k, v, c: linear_attention(
            relu_features(q), relu_features(k), v, causal=c
        ),
        f"performer_favor_m{m}": lambda q, k, v, c: favor(q, k, v, w, c),
    }


def measure(fn, length, args, device, backward, repeat):
    b, h, d = args.batch, args.heads, args.dim
    q, k, v = (torch.randn(b, h, length, d, device=device, requires_grad=backward) for _ in "qkv")
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    times = []
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    for i in range(repeat + 1):  # the first call warms up
        sync()
        start = time.perf_counter()
        out = fn(q, k, v, args.causal)
        if backward:
            out.sum().backward()
        sync()
        if i:
            times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else None
    return {"seconds": min(times), "peak_bytes": peak}


def crossover(seconds: dict, method: str, baseline: str):
    """Smallest measured L from which `method` is faster than `baseline` at every longer L
    (None: never); `seconds` maps (method, L) to a time."""
    lengths = sorted({length for _, length in seconds})
    for i, length in enumerate(lengths):
        if all(seconds[(method, x)] < seconds[(baseline, x)] for x in lengths[i:]):
            return length
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 4096, 16384])
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--features", type=int, default=64)
    p.add_argument("--causal", action="store_true")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="benchmarks/results/attention_speed.json")
    args = p.parse_args()
    torch.manual_seed(0)
    rows = []
    for length in args.lengths:
        for name, fn in methods(args.dim, args.features, args.device).items():
            row = {"method": name, "L": length}
            for key, backward in (("forward", False), ("forward_backward", True)):
                row[key] = measure(fn, length, args, args.device, backward, args.repeat)
            rows.append(row)
            print(
                f"L={length:6d} {name:22s} fwd {row['forward']['seconds'] * 1e3:9.2f} ms"
                f"  fwd+bwd {row['forward_backward']['seconds'] * 1e3:9.2f} ms"
            )
    linear = [m for m in methods(args.dim, args.features, "cpu") if m != "softmax_sdpa"]

    def timed(key):
        return {(r["method"], r["L"]): r[key]["seconds"] for r in rows}

    cross = {
        m: {k: crossover(timed(k), m, "softmax_sdpa") for k in ("forward", "forward_backward")}
        for m in linear
    }
    print("crossover length (linear faster from here on):", json.dumps(cross))
    result = {
        "settings": vars(args),
        "device": args.device,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.platform(),
        "rows": rows,
        "crossover": cross,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
