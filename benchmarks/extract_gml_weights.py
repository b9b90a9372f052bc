"""Turn GeometricMachineLearning.jl's trained rigid-body weights (HDF5) into JSON for
`benchmarks/vpt_gml_differences.py`, so that the benchmark itself needs no HDF5 reader.

    python benchmarks/extract_gml_weights.py DIR_WITH_H5 benchmarks/data/gml_rigid_body_weights.json

The files are docs/src/tutorials/transformer_rigid_body_nn_{vpff,vpt}.h5 of JuliaGNI/
GeometricMachineLearning.jl (MIT licence), the weights behind its rigid-body tutorial. Needs
h5py, which is not a phasebench dependency: run it with any Python that has h5py.

Each layer `L<k>` becomes one entry, in order: a triangular layer's strictly triangular
entries `S` (GML's order: lower row by row, upper column by column) and its bias, or an
attention layer's 3 × 3 weighting `A`. HDF5.jl writes Julia's column-major arrays with their
axes reversed, so the `A` that h5py reads is GML's Aᵀ; it is transposed back here.
"""

import json
import sys
from pathlib import Path

import h5py


def layers(path: Path) -> list[dict]:
    out = []
    with h5py.File(path) as f:
        for k in range(1, len(f) + 1):
            group = f[f"L{k}"]
            if "A" in group:
                out.append({"kind": "attention", "A": group["A"][()].T.tolist()})
                continue
            kind = group["weight"].attrs["gml_type"].decode()
            out.append(
                {
                    "kind": {"LowerTriangular": "lower", "UpperTriangular": "upper"}[kind],
                    "S": group["weight/S"][()].tolist(),
                    "bias": group["bias"][()].tolist() if "bias" in group else None,
                }
            )
    return out


def main() -> None:
    folder, out = Path(sys.argv[1]), Path(sys.argv[2])
    weights = {
        "source": "JuliaGNI/GeometricMachineLearning.jl@edb632b3 "
        "docs/src/tutorials/transformer_rigid_body_nn_{vpff,vpt}.h5 (MIT licence)",
        "vpt_attention": "skew_sym = false: C_ij = z_i^T A z_j / sqrt(3) for i > j, C = -C^T",
        "vpff": layers(folder / "nn_vpff.h5"),
        "vpt": layers(folder / "nn_vpt.h5"),
    }
    out.write_text(json.dumps(weights, indent=1))


if __name__ == "__main__":
    main()
