"""--device -> ONNX Runtime providers: names, options, availability policy, and what a session runs on.

Everything runs on a CPU-only onnxruntime: availability is injected with ``available=[...]``.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import onnxruntime as ort
import pytest

from livevision.errors import LiveVisionError, MissingDependencyError, UsageError
from livevision.models.providers import (
    AUTO_ORDER,
    DEVICES,
    ProviderUnavailableError,
    apply_session_options,
    fallback_message,
    provider_names,
    report_session_providers,
    resolve_providers,
)

CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
OPENVINO, COREML, DML = "OpenVINOExecutionProvider", "CoreMLExecutionProvider", "DmlExecutionProvider"
EVERYTHING = [TRT, CUDA, OPENVINO, COREML, DML, "AzureExecutionProvider", CPU]


def test_cpu_is_just_cpu():
    assert resolve_providers("cpu", available=[CPU]) == [CPU]
    assert resolve_providers(" CPU ", available=[CPU]) == [CPU]


def test_cuda_options_and_device_index():
    assert resolve_providers("cuda", available=[CUDA, CPU]) == [
        (CUDA, {"device_id": 0, "cudnn_conv_algo_search": "EXHAUSTIVE"}),
        CPU,
    ]
    (name, options), cpu = resolve_providers("cuda:1", available=[CUDA, CPU])
    assert (name, options["device_id"], cpu) == (CUDA, 1, CPU)


def test_tensorrt_engine_cache_under_cache_dir_then_cuda_then_cpu(tmp_path):
    providers = resolve_providers("tensorrt", available=[TRT, CUDA, CPU], cache_dir=tmp_path, fp16=True)
    assert provider_names(providers) == [TRT, CUDA, CPU]
    trt = providers[0][1]
    assert trt["trt_engine_cache_enable"] is True and trt["trt_timing_cache_enable"] is True
    assert trt["trt_engine_cache_path"] == trt["trt_timing_cache_path"] == str(tmp_path / "trt")
    assert (tmp_path / "trt").is_dir()
    assert trt["trt_fp16_enable"] is True and trt["device_id"] == 0
    assert resolve_providers("tensorrt", available=[TRT, CUDA, CPU])[0][1] == {"device_id": 0, "trt_fp16_enable": False}


def test_tensorrt_without_cuda_skips_it():
    assert provider_names(resolve_providers("tensorrt:2", available=[TRT, CPU])) == [TRT, CPU]


def test_openvino_device_types_and_cache(tmp_path):
    assert resolve_providers("openvino", available=[OPENVINO, CPU], cache_dir=tmp_path) == [
        (OPENVINO, {"device_type": "CPU", "cache_dir": str(tmp_path / "openvino")}),
        CPU,
    ]
    assert resolve_providers("openvino:gpu", available=[OPENVINO, CPU])[0] == (OPENVINO, {"device_type": "GPU"})
    assert resolve_providers("openvino:gpu.1", available=[OPENVINO, CPU])[0][1]["device_type"] == "GPU.1"
    assert resolve_providers("openvino:auto", available=[OPENVINO, CPU])[0][1]["device_type"] == "AUTO:GPU,CPU"
    with pytest.raises(UsageError, match="OpenVINO device must be one of"):
        resolve_providers("openvino:tpu", available=[OPENVINO, CPU])


def test_coreml_and_directml(tmp_path):
    assert resolve_providers("coreml", available=[COREML, CPU], cache_dir=tmp_path) == [
        (COREML, {"ModelFormat": "MLProgram", "MLComputeUnits": "ALL",
                  "ModelCacheDirectory": str(tmp_path / "coreml")}),
        CPU,
    ]
    assert resolve_providers("directml:1", available=[DML, CPU]) == [(DML, {"device_id": 1}), CPU]


@pytest.mark.parametrize("device", ["gpu", "cuda0", "", "tensorrt:x", "cpu:0", "auto:1"])
def test_bad_device_is_a_usage_error(device):
    with pytest.raises(UsageError) as info:
        resolve_providers(device, available=EVERYTHING)
    assert "\n" not in str(info.value)


def test_unknown_device_lists_the_choices():
    with pytest.raises(UsageError) as info:
        resolve_providers("gpu", available=EVERYTHING)
    assert all(d in str(info.value) for d in DEVICES)


@pytest.mark.parametrize(
    "device, missing, hint",
    [
        ("cuda", CUDA, "onnxruntime-gpu"),
        ("tensorrt", TRT, "onnxruntime-gpu"),
        # openvino without its provider is the OpenVINO runtime, or its own error: tests/test_openvino.py
        ("directml", DML, "onnxruntime-directml"),
        ("coreml", COREML, "macOS"),
    ],
)
def test_unavailable_provider_names_what_is_there_and_what_to_install(device, missing, hint):
    with pytest.raises(ProviderUnavailableError) as info:
        resolve_providers(device, available=["AzureExecutionProvider", CPU])
    message = str(info.value)
    assert missing in message and hint in message
    assert "available: AzureExecutionProvider, CPUExecutionProvider" in message
    assert isinstance(info.value, MissingDependencyError) and isinstance(info.value, LiveVisionError)
    assert "\n" not in message


def test_allow_fallback_gives_cpu_and_warns_once(caplog, monkeypatch):
    from livevision.models import providers

    monkeypatch.setattr(providers, "_FALLBACKS_REPORTED", set())
    with caplog.at_level(logging.WARNING, logger="livevision.models.providers"):
        for _ in range(3):  # a model load resolves its device several times: one warning
            assert resolve_providers("cuda", available=[CPU], allow_fallback=True) == [CPU]
    assert caplog.text.count("CUDAExecutionProvider is not available") == 1


@pytest.mark.parametrize(
    "available, expected",
    [
        (EVERYTHING, CUDA),  # TensorRT is never picked automatically
        ([TRT, CUDA, CPU], CUDA),
        ([COREML, CPU], COREML),
        ([DML, OPENVINO, CPU], DML),
        ([OPENVINO, "AzureExecutionProvider", CPU], OPENVINO),
        (["AzureExecutionProvider", CPU], CPU),
        ([TRT, CPU], CPU),
        ([], CPU),
    ],
)
def test_auto_picks_the_best_available(available, expected):
    providers = resolve_providers("auto", available=available)
    assert provider_names(providers)[0] == expected and providers[-1] == CPU
    assert AUTO_ORDER[-1] == "cpu"


def test_fp16_outside_tensorrt_is_noted(caplog):
    with caplog.at_level(logging.WARNING, logger="livevision.models.providers"):
        resolve_providers("cuda", available=[CUDA, CPU], fp16=True)
    assert "fp16 only changes TensorRT" in caplog.text


def test_default_available_is_this_onnxruntime():
    assert provider_names(resolve_providers("auto"))[-1] == CPU
    assert resolve_providers("cpu") == [CPU]


def test_directml_session_options():
    options = ort.SessionOptions()
    apply_session_options(options, [CPU])
    assert options.enable_mem_pattern is True
    apply_session_options(options, [(DML, {"device_id": 0}), CPU])
    assert options.enable_mem_pattern is False
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL


@pytest.fixture(scope="module")
def add_model(tmp_path_factory):
    """A one-node ONNX model (y = x + x)."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "add", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("onnx") / "add.onnx"
    onnx.save(model, str(path))
    return path


def test_report_on_a_real_cpu_session(add_model):
    requested = resolve_providers("cpu")
    session = ort.InferenceSession(str(add_model), providers=requested)
    assert report_session_providers(session, requested) == ("CPUExecutionProvider", False)
    (y,) = session.run(None, {"x": np.ones((1, 3), np.float32)})
    assert y.tolist() == [[2.0, 2.0, 2.0]]


def test_report_flags_a_session_that_fell_back_from_cuda(add_model):
    # CUDA "available" (as onnxruntime-gpu says on a machine without a GPU) but not usable: ORT warns
    # and runs the session on the CPU. The report is how livevision notices.
    requested = resolve_providers("cuda", available=[CUDA, CPU])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ORT's "not in available provider names"
        session = ort.InferenceSession(str(add_model), providers=requested)
    used, fell_back = report_session_providers(session, requested)
    assert (used, fell_back) == ("CPUExecutionProvider", True)
    message = fallback_message("cuda", requested, report_session_providers(session, requested))
    assert "CUDAExecutionProvider" in message and "CPUExecutionProvider" in message and "\n" not in message
