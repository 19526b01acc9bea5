"""Running pre-processing, the model and post-processing on one provider, tensors kept on it.

Each stage is its own ONNX Runtime session on the model's provider; IO binding hands a stage's
output (an OrtValue on the device) to the next stage without a host round trip. The frame goes up
once (uint8, a third of the float pixel_values), and only the compact result comes down: the label
map, the depth map at frame size, the top-k. On the CPU provider the same code runs with CPU
OrtValues (no copies between stages either).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..types import PreparedInput

#: execution provider -> the OrtValue device its outputs live on
_DEVICE_OF_PROVIDER = {
    "CUDAExecutionProvider": "cuda",
    "TensorrtExecutionProvider": "cuda",
    "DmlExecutionProvider": "dml",
}


@dataclass(frozen=True)
class DeviceInput:
    """A frame turned into the model input on the provider's device, with PreparedInput's geometry.

    value: the (1, 3, H_in, W_in) float32 pixel_values as an onnxruntime OrtValue."""

    value: Any
    original_hw: tuple[int, int]
    resized_hw: tuple[int, int]
    padding_tblr: tuple[int, int, int, int] = (0, 0, 0, 0)

    def to_host(self) -> PreparedInput:
        """The same input as a PreparedInput (copies pixel_values to the host)."""
        return PreparedInput(np.ascontiguousarray(self.value.numpy(), dtype=np.float32), self.original_hw,
                             self.resized_hw, self.padding_tblr)


class Binder:
    """Runs sessions with IO binding, keeping outputs on the device of `session`'s provider."""

    def __init__(self, session):
        provider = session.get_providers()[0]
        self.device_type = _DEVICE_OF_PROVIDER.get(provider, "cpu")
        options = dict(session.get_provider_options().get(provider, {}))
        self.device_id = int(options.get("device_id", 0) or 0)

    @property
    def on_cpu(self) -> bool:
        return self.device_type == "cpu"

    def upload(self, array: np.ndarray):
        """`array` as an OrtValue on the device (for inputs that stay the same across frames)."""
        import onnxruntime as ort

        return ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array), self.device_type,
                                                0 if self.on_cpu else self.device_id)

    def run(self, session, inputs: Mapping[str, Any], outputs: Sequence[str], *, to_host: bool = False) -> list:
        """session's `outputs` for `inputs` (numpy arrays, copied up, or OrtValues, used in place).
        to_host: return numpy arrays; otherwise OrtValues on the device."""
        import onnxruntime as ort

        binding = session.io_binding()
        for name, value in inputs.items():
            if isinstance(value, ort.OrtValue):
                binding.bind_ortvalue_input(name, value)
            else:
                binding.bind_cpu_input(name, np.ascontiguousarray(value))
        device = "cpu" if to_host else self.device_type
        for name in outputs:
            binding.bind_output(name, device, 0 if device == "cpu" else self.device_id)
        session.run_with_iobinding(binding)
        values = binding.get_outputs()
        return [v.numpy() for v in values] if to_host else list(values)


def graph_session(model, like_session, *, intra_op_threads: int | None = None, live: bool = False):
    """A session for a small pre/post graph (an onnx ModelProto) on `like_session`'s providers."""
    import onnxruntime as ort

    from ..models.session import session_options

    options = session_options(intra_op_threads=intra_op_threads, live=live)
    # TensorRT would build an engine for each small graph: they run on CUDA beside it.
    providers = [p for p in like_session.get_providers() if p != "TensorrtExecutionProvider"]
    if "TensorrtExecutionProvider" in like_session.get_providers() and "CUDAExecutionProvider" not in providers:
        providers.insert(0, "CUDAExecutionProvider")
    provider_options = [like_session.get_provider_options().get(p, {}) for p in providers]
    return ort.InferenceSession(model.SerializeToString(), sess_options=options, providers=providers,
                                provider_options=provider_options)
