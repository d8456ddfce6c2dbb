"""Embedding backends: one interface (:class:`Backend`) and one registry (:data:`REGISTRY`).

``"torch"`` runs the sentence-transformers model in float32. The int8 backends run an export
of it made once (:mod:`index.encoder.export`): ``"openvino-int8"`` (static int8 calibrated
with NNCF: fastest, and closest to float32, per ``bench/encode_speed.py``) and ``"onnx-int8"``
(ONNX Runtime's dynamic int8); ``"openvino-fp32"`` runs the float32 export itself by OpenVINO
(torch's vectors, sooner: the path questions take). This module imports nothing heavy, so the
command line can list the names; an implementation module is imported only when its backend is
used.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from index.encoder import pins

if TYPE_CHECKING:
    import numpy as np

TORCH = "torch"
OPENVINO_INT8 = "openvino-int8"
ONNX_INT8 = "onnx-int8"
OPENVINO_FP32 = "openvino-fp32"

#: ``run(feeds, n_batches)``: one float32 array of embeddings per feed.
Runner = Callable[[Iterable[dict[str, "np.ndarray"]], int], list["np.ndarray"]]


class Backend(Protocol):
    """An int8 runtime: writes its export of a model once, then runs it."""

    #: What else decides the export (quantization settings), recorded in its stamp.
    settings: dict[str, Any]

    def export(self, st: Any, out: Path) -> list[str]:
        """Write the int8 model for ``st`` (a SentenceTransformer) into ``out``; returns the
        names of the token inputs it takes."""
        ...

    def runner(self, folder: Path, threads: int) -> Runner:
        """Load the export in ``folder`` to run on ``threads`` threads."""
        ...


@dataclass(frozen=True, slots=True)
class BackendSpec:
    name: str
    #: Distributions it imports (module name = distribution name), pinned in pyproject.toml.
    packages: tuple[str, ...] = ()
    #: The pyproject extra that installs them; None when the base install does.
    extra: str | None = None
    #: Module whose ``BACKEND`` implements :class:`Backend`; None for the in-process torch path.
    module: str | None = None
    #: Of ``packages``, those running an export needs (the others only make one: NNCF and
    #: onnx take ~5 s to import here, which a one-article update should not pay).
    runtime: tuple[str, ...] = ()


REGISTRY: dict[str, BackendSpec] = {
    TORCH: BackendSpec(TORCH),
    OPENVINO_INT8: BackendSpec(
        OPENVINO_INT8, ("openvino", "nncf", "onnx"), None, "index.encoder.openvino_int8",
        ("openvino",),
    ),
    ONNX_INT8: BackendSpec(ONNX_INT8, ("onnxruntime", "onnx"), "onnx", "index.encoder.onnx_int8",
                           ("onnxruntime",)),
    OPENVINO_FP32: BackendSpec(OPENVINO_FP32, ("openvino", "onnx"), None,
                               "index.encoder.openvino_fp32", ("openvino",)),
}
BACKENDS = tuple(REGISTRY)


def spec(backend: str) -> BackendSpec:
    """The registry entry of ``backend``, or ValueError naming the choices."""
    if backend not in REGISTRY:
        raise ValueError(
            f"Unknown embedding backend {backend!r}. Choose one of: {', '.join(BACKENDS)}."
        )
    return REGISTRY[backend]


def require(backend: str, *, export: bool = True) -> None:
    """Import the backend's packages (only those running an export needs, unless ``export``),
    or raise ImportError naming the pip line."""
    entry = spec(backend)
    for name in entry.packages if export else entry.runtime:
        try:
            with telemetry_off():
                __import__(name)
        except ImportError as exc:
            raise ImportError(
                f"The {backend!r} embedding backend needs the {name!r} package. Run: "
                + pins.install_command(entry.packages, entry.extra)
            ) from exc


def implementation(backend: str, *, export: bool = True) -> Backend:
    """The :class:`Backend` that runs ``backend`` (an int8 one), its packages checked first
    (only those running an export needs, unless ``export``)."""
    entry = spec(backend)
    if entry.module is None:
        raise ValueError(f"The {backend!r} backend runs in process; it has no export to run.")
    require(backend, export=export)
    return importlib.import_module(entry.module).BACKEND


@contextlib.contextmanager
def telemetry_off() -> Iterator[None]:
    """Unless the user opted out, ``import openvino`` sends a usage event to Google Analytics
    and NNCF one per call; both skip it in CI. So imports run with CI set, then it is restored."""
    saved = {key: os.environ.get(key) for key in ("CI", "NNCF_CI")}
    os.environ.update(CI="true", NNCF_CI="1")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
