"""The OpenVINO runtime (the `openvino` package, `pip install livevision[openvino]`) behind the part of an
ONNX Runtime InferenceSession that livevision uses: ``run(output_names, feed)``, ``get_inputs()`` and
``get_outputs()`` (``.name``, ``.shape``, ``.type`` as ORT gives them), ``get_providers()`` and
``get_provider_options()``. `Predictor` and the precision machinery (variants, the accuracy gate,
the timing) run it unchanged.

Why the runtime and not ONNX Runtime's OpenVINO execution provider: ``onnxruntime-openvino`` is a
build of the ``onnxruntime`` module itself, so it replaces the default runtime instead of installing
beside it (checked with pip 2026-12-07: after ``pip install onnxruntime==1.32.0 onnxruntime-openvino==1.24.1``
pip lists both, ``import onnxruntime`` is 1.24.1, and uninstalling onnxruntime-openvino leaves a broken
``onnxruntime`` module); the ``openvino`` wheel installs beside ``onnxruntime`` and breaks nothing.
ORT's OpenVINO execution provider is still used where the onnxruntime build has it (providers.py).

What runs where: OpenVINO runs the model only. It has no IO binding, so livevision's device graphs
(pre- and post-processing beside the model) do not run on it: pre- and post-processing stay on the
host (PrePost.HOST), and ``--pre-post device`` is refused.

Settings: the CPU computes in FP32 (``INFERENCE_PRECISION_HINT f32``: OpenVINO's default on CPUs with
AMX or AVX-512 BF16 is bfloat16, which is not the FP32 model), one stream tuned for latency
(``PERFORMANCE_HINT LATENCY``), ``intra_op_threads`` threads. GPUs and NPUs run at their own default
precision (FP16). The model is compiled for the static input shape of the first run, and again for each
new shape (a few kept): OpenVINO runs a static shape much faster than the export's dynamic one (SegFormer
at 512x512: about 2x on this project's machine).
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from ..errors import CacheError, MissingDependencyError
from .providers import CPU

#: provider names of sessions on the OpenVINO runtime: "OpenVINO:CPU", "OpenVINO:GPU", "OpenVINO:NPU".
PROVIDER_PREFIX = "OpenVINO:"
INSTALL_HINT = "pip install 'livevision[openvino]'"
#: compiled input shapes kept per session (batch "auto" tries 1, 2, 4 and 8 frames)
MAX_SHAPES = 6


class NodeArg(NamedTuple):
    """An input or output as ORT's NodeArg describes it: shape dims are ints, or names for dynamic axes."""

    name: str
    shape: list
    type: str


def is_openvino_runtime(provider: str) -> bool:
    """Whether `provider` (a session's primary provider) is the OpenVINO runtime."""
    return isinstance(provider, str) and provider.startswith(PROVIDER_PREFIX)


def runs_on_the_host_cpu(provider: str) -> bool:
    """Whether a session with this primary provider computes on the host's CPU cores (ONNX Runtime's CPU
    provider, or OpenVINO's CPU device): one host worker per stage, and no batch (it gains nothing there)."""
    return provider == CPU or provider == PROVIDER_PREFIX + "CPU"


def import_openvino():
    """The `openvino` module, or a one-line MissingDependencyError saying what to install."""
    try:
        import openvino
    except ImportError:
        raise MissingDependencyError(
            f"--device openvino needs the OpenVINO runtime: {INSTALL_HINT} (Intel CPUs, GPUs and NPUs)") from None
    return openvino


@functools.lru_cache(maxsize=1)
def _core():
    return import_openvino().Core()


def available_devices() -> list[str]:
    """The devices OpenVINO finds on this machine, e.g. ["CPU", "GPU.0", "GPU.1", "NPU"]."""
    return list(_core().available_devices)


def has_device(device_type: str, devices: Sequence[str]) -> bool:
    """Whether `device_type` (CPU, GPU, GPU.1, NPU, AUTO) is among OpenVINO's `devices`."""
    if device_type == "AUTO" or device_type in devices:
        return True
    return "." not in device_type and any(d.split(".")[0] == device_type for d in devices)


def _node_args(values, initializers: set[str]) -> list[NodeArg]:
    from onnx import TensorProto

    args = []
    for value in values:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim]
        args.append(NodeArg(value.name, dims, f"tensor({TensorProto.DataType.Name(tensor.elem_type).lower()})"))
    return args


def _with_static_dims(arg: NodeArg, ports) -> NodeArg:
    """`arg` with the dims OpenVINO's shape inference fixed (num_labels -> 150), as ORT's NodeArg has them."""
    port = next((p for p in ports if arg.name in p.get_names()), None)
    if port is None or port.get_partial_shape().rank.is_dynamic or len(port.get_partial_shape()) != len(arg.shape):
        return arg
    dims = [d.get_length() if d.is_static else arg.shape[i] for i, d in enumerate(port.get_partial_shape())]
    return arg._replace(shape=dims)


class OpenVINOSession:
    """An ONNX model compiled by OpenVINO for `device_type` (CPU, GPU, GPU.1, NPU, AUTO).

    threads: CPU inference threads (None: OpenVINO's default, one per physical core). cache_dir: where
    OpenVINO keeps compiled blobs (faster start, GPU kernels above all); None: no cache. properties:
    OpenVINO properties over livevision's (scripts/bench_openvino.py times the CPU's bf16 default)."""

    def __init__(self, onnx_path: Path, device_type: str = "CPU", *, threads: int | None = None,
                 cache_dir: Path | None = None, properties: dict | None = None):
        import onnx

        self.device_type = device_type
        self.provider = PROVIDER_PREFIX + device_type.split(".")[0]
        try:
            proto = onnx.load(str(onnx_path), load_external_data=False)
            self._model = _core().read_model(str(onnx_path))
        except MissingDependencyError:
            raise
        except Exception as exc:  # onnx's and OpenVINO's own error types
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CacheError(f"cannot load ONNX model {onnx_path} into OpenVINO: {first_line}") from None
        initializers = {t.name for t in proto.graph.initializer}
        self._inputs = _node_args(proto.graph.input, initializers)
        self._outputs = [_with_static_dims(arg, self._model.outputs) for arg in _node_args(proto.graph.output,
                                                                                           initializers)]
        del proto
        self._config: dict = {"PERFORMANCE_HINT": "LATENCY"}
        if device_type == "CPU":
            self._config["INFERENCE_PRECISION_HINT"] = "f32"
            if threads:
                self._config["INFERENCE_NUM_THREADS"] = int(threads)
        if cache_dir is not None:
            self._config["CACHE_DIR"] = str(cache_dir)
        self._config.update(properties or {})
        self._compiled: OrderedDict[tuple, tuple] = OrderedDict()  # input shapes -> (request, output indices)
        self._lock = threading.Lock()

    def get_inputs(self) -> list[NodeArg]:
        return list(self._inputs)

    def get_outputs(self) -> list[NodeArg]:
        return list(self._outputs)

    def get_providers(self) -> list[str]:
        return [self.provider]

    def get_provider_options(self) -> dict:
        return {self.provider: {"device_type": self.device_type}}

    def disable_fallback(self) -> None:
        """OpenVINO never moves a model to another device mid-run: nothing to turn off."""

    def _request_for(self, shapes: tuple):
        """The infer request compiled for these input shapes, and {output name: index}."""
        if shapes in self._compiled:
            self._compiled.move_to_end(shapes)
            return self._compiled[shapes]
        model = self._model.clone()
        model.reshape({i: list(shape) for i, shape in enumerate(shapes)})
        compiled = _core().compile_model(model, self.device_type, self._config)
        indices = {}
        for index, port in enumerate(compiled.outputs):
            for name in port.get_names():
                indices.setdefault(name, index)
        self._compiled[shapes] = (compiled.create_infer_request(), indices)
        if len(self._compiled) > MAX_SHAPES:
            self._compiled.popitem(last=False)
        return self._compiled[shapes]

    def run(self, output_names: Sequence[str] | None, feed: dict, run_options=None) -> list[np.ndarray]:
        """`output_names` (None: all) for `feed` ({input name: array}), as numpy arrays of their own."""
        arrays = [np.ascontiguousarray(feed[arg.name]) for arg in self._inputs]
        names = [o.name for o in self._outputs] if output_names is None else list(output_names)
        with self._lock:  # one request per shape: runs from several threads take turns
            request, indices = self._request_for(tuple(a.shape for a in arrays))
            results = request.infer(dict(enumerate(arrays)))
            return [np.array(results[indices[name]], copy=True) for name in names]

    def io_binding(self):
        raise NotImplementedError("OpenVINO sessions have no IO binding: pre/post-processing run on the host")
