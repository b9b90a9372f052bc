"""One attention body of the image study (`MultiHeadAttention` of `phasebench.layers`, width 32,
4 heads) against the number of tokens L: forward+backward time and peak memory, softmax against
each Performer kernel, and the crossover length from which each linear kernel is faster.

    python benchmarks/vision_attention_speed.py [--lengths 64 128 … 4096] [--batch 1]
        [--out benchmarks/results/vision_attention_speed.json]

The tokens are synthetic, of the study's width (what an upsampled digit's pixels would be after
the patch embedding). Peak memory is the most bytes the CPU allocator held at once during one
forward+backward (torch.profiler's memory events), inputs excluded. Nothing here is asserted.
"""

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from attention_speed import crossover  # benchmarks/ is on the path when run as a script
from torch.profiler import ProfilerActivity, profile

from phasebench.attention import KERNELS, KernelAttention
from phasebench.layers import MultiHeadAttention
from phasebench.layers.feature_major import plain_layers


def body(kernel, dim, heads, m):
    features = {"m": m} if kernel in ("favor", "learned") else {}
    return MultiHeadAttention(dim, heads, kernel=KernelAttention(dim // heads, kernel, **features))


def step(layer, x):
    layer(x).square().mean().backward()


def seconds(layer, x, repeat):
    step(layer, x)  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step(layer, x)
        times.append(time.perf_counter() - start)
    return min(times)


def peak_bytes(layer, x):
    """Most bytes held at once by the allocations of one forward+backward."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step(layer, x)
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    live = top = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        live += event.nbytes()
        top = max(top, live)
    return top


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--lengths", type=int, nargs="+", default=[16, 64, 128, 256, 512, 1024, 2048, 4096]
    )
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--features", type=int, default=16, help="m of favor and learned")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/vision_attention_speed.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    with plain_layers():  # softmax through scaled_dot_product_attention, as in the study
        for length in args.lengths:
            x = torch.randn(args.batch, length, args.dim, requires_grad=True)
            for kernel in KERNELS:
                layer = body(kernel, args.dim, args.heads, args.features)
                row = {
                    "kernel": kernel,
                    "L": length,
                    "seconds": seconds(layer, x, args.repeat),
                    "peak_bytes": peak_bytes(layer, x),
                }
                rows.append(row)
                print(
                    f"L={length:5d} {kernel:8s} fwd+bwd {row['seconds'] * 1e3:9.2f} ms"
                    f"  peak {row['peak_bytes'] / 2**20:9.2f} MiB",
                    flush=True,
                )
    seconds_of = {(r["kernel"], r["L"]): r["seconds"] for r in rows}
    cross = {k: crossover(seconds_of, k, "softmax") for k in KERNELS if k != "softmax"}
    print("crossover length (faster than softmax from here on):", json.dumps(cross))
    result = {
        "settings": vars(args),
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
