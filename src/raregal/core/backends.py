"""Choose where UMAP and HDBSCAN run: CPU libraries, or cuML on a GPU.

The CPU route is umap-learn and fast_hdbscan. fast_hdbscan was chosen over the
hdbscan library by measurement (bench/search.py): it gives the same leaf clusters
(adjusted Rand >= 0.99 on the same embedding) several times faster, because its
Boruvka tree is parallel and its numba code is cached after the first run.
"""

from __future__ import annotations

from raregal.core.errors import InputError

BACKENDS = ("auto", "cpu", "gpu")


def gpu_available() -> bool:
    """True when cuML imports and CUDA sees at least one device."""
    try:
        import cuml  # noqa: F401
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # not installed, or no driver/device
        return False


def resolve_backend(name: str) -> str:
    """Turn ``auto``/``cpu``/``gpu`` into the backend that will run: cpu or gpu."""
    if name not in BACKENDS:
        raise InputError(f"unknown backend '{name}'; use one of {', '.join(BACKENDS)}")
    if name == "cpu":
        return "cpu"
    if gpu_available():
        return "gpu"
    if name == "gpu":
        raise InputError(
            "--backend gpu: cuML with a CUDA device is needed "
            "(see https://docs.rapids.ai/install); use --backend cpu"
        )
    return "cpu"
