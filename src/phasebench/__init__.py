"""phasebench: which neural architecture learns this Hamiltonian system best, at what cost,
and does it keep the physics?

The public plugin API (`System`, `ModelPlugin`, `SystemSpec`, and the building blocks in
`phasebench.layers`) is imported lazily so that
`import phasebench.registry` stays cheap: the Snakefile imports it on every parse and must never
pay for torch.
"""

__version__ = "0.1.0"

_LAZY = {
    "System": "phasebench.system",
    "SystemSpec": "phasebench.spec",
    "ModelPlugin": "phasebench.model",
}

__all__ = ["ModelPlugin", "System", "SystemSpec", "__version__"]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'phasebench' has no attribute {name!r}")
