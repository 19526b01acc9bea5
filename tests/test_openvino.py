"""`--device openvino`: the OpenVINO runtime behind models.openvino_session, against ONNX Runtime's CPU
provider on tiny models (the tolerances of test_parity.py), and its one-line errors: bad device strings,
a device OpenVINO does not find, the `openvino` package missing, `--pre-post device`; `--device auto`
choosing OpenVINO's CPU over ORT's CPU provider only where it measures faster (timings injected).

The tests that run a model skip without the `openvino` package (`pip install 'livevision[openvino]'`);
the error tests need neither it nor torch."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from livevision.errors import MissingDependencyError, OptionError, UsageError
from livevision.models import openvino_session
from livevision.models.providers import CPU, ProviderUnavailableError, check_device, resolve_providers
from livevision.types import PrePost, Task


@pytest.fixture
def no_openvino(monkeypatch):
    """As if the `openvino` package were not installed."""
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` raises ImportError
    openvino_session._core.cache_clear()
    yield
    openvino_session._core.cache_clear()


@pytest.mark.parametrize("device", ["openvino:tpu", "openvino:cpu.1", "openvino:gpu.x", "openvino:", "openvino:npu:0"])
def test_bad_openvino_device_strings_are_one_line_option_errors(device):
    if device == "openvino:":  # nothing after the colon: the default device, CPU
        assert check_device(device) == device
        return
    with pytest.raises(OptionError) as info:
        check_device(device)
    assert "OpenVINO device must be one of cpu, gpu, npu, auto" in str(info.value)
    assert "\n" not in str(info.value)


def test_device_types_resolve_to_openvino_runtime(monkeypatch, tmp_path):
    monkeypatch.setattr(openvino_session, "available_devices", lambda: ["CPU", "GPU.0", "GPU.1", "NPU"])
    assert resolve_providers("openvino", available=[CPU], cache_dir=tmp_path) == [
        ("OpenVINO:CPU", {"device_type": "CPU", "cache_dir": str(tmp_path / "openvino")})]
    assert resolve_providers("openvino:gpu", available=[CPU]) == [("OpenVINO:GPU", {"device_type": "GPU"})]
    assert resolve_providers("openvino:GPU.1", available=[CPU])[0][1] == {"device_type": "GPU.1"}
    assert resolve_providers("openvino:npu", available=[CPU])[0][0] == "OpenVINO:NPU"


@pytest.mark.parametrize("device, kind", [("openvino:gpu", "GPU"), ("openvino:npu", "NPU"),
                                          ("openvino:gpu.2", "GPU.2")])
def test_a_device_openvino_does_not_find_names_the_ones_it_found(monkeypatch, device, kind):
    found = ["CPU", "GPU.0"] if kind == "GPU.2" else ["CPU"]
    monkeypatch.setattr(openvino_session, "available_devices", lambda: found)
    with pytest.raises(ProviderUnavailableError) as info:
        resolve_providers(device, available=[CPU])
    message = str(info.value)
    assert f"OpenVINO finds no {kind} device on this machine (it found: CPU" in message and "\n" not in message
    assert resolve_providers(device, available=[CPU], allow_fallback=True) == [CPU]


def test_missing_openvino_package_is_one_line(no_openvino):
    with pytest.raises(MissingDependencyError) as info:
        resolve_providers("openvino", available=["AzureExecutionProvider", CPU])
    message = str(info.value)
    assert "pip install 'livevision[openvino]'" in message and "\n" not in message
    assert isinstance(info.value, ProviderUnavailableError)
    assert resolve_providers("openvino", available=[CPU], allow_fallback=True) == [CPU]
    with pytest.raises(MissingDependencyError, match=r"livevision\[openvino\]"):
        openvino_session.import_openvino()


def test_ort_openvino_provider_is_used_where_onnxruntime_has_it(monkeypatch):
    monkeypatch.setattr(openvino_session, "available_devices", lambda: ["CPU"])
    assert resolve_providers("openvino", available=["OpenVINOExecutionProvider", CPU])[0][0] == \
        "OpenVINOExecutionProvider"


def test_pre_post_stays_on_the_host():
    from livevision.loader import pre_post_for

    assert pre_post_for(PrePost.AUTO, "OpenVINO:CPU") is PrePost.HOST
    assert pre_post_for(PrePost.HOST, "OpenVINO:GPU") is PrePost.HOST
    with pytest.raises(UsageError, match="OpenVINO runs the model only"):
        pre_post_for(PrePost.DEVICE, "OpenVINO:CPU")


# One architecture per task and kind of graph: a transformer, a CNN, a DPT head, per-pixel segmentation.
PARITY = {"vit": Task.CLASSIFICATION, "resnet": Task.CLASSIFICATION, "depth_anything": Task.DEPTH,
          "segformer": Task.SEGMENTATION}


@pytest.mark.parametrize("name", list(PARITY))
def test_openvino_matches_the_cpu_provider(name, exported):
    pytest.importorskip("openvino")
    from livevision.predictor import Predictor, RuntimeOptions
    from test_parity import synthetic_frames

    entry, task = exported(name), PARITY[name]
    ours = Predictor(entry, task, runtime=RuntimeOptions(device="openvino", precision="fp32"))
    reference = Predictor(entry, task, runtime=RuntimeOptions(device="cpu", precision="fp32", pre_post="host"))
    assert ours.provider == "OpenVINO:CPU" and ours.pre_post is PrePost.HOST
    for frame in synthetic_frames():  # three sizes: the session compiles each input shape
        got, want = ours(frame), reference(frame)
        if task is Task.DEPTH:
            np.testing.assert_allclose(got.depth, want.depth, rtol=1e-4, atol=2e-4, err_msg=f"{name} {frame.shape}")
        elif task is Task.CLASSIFICATION:
            assert list(got.labels) == list(want.labels), f"{name} {frame.shape}"
            np.testing.assert_allclose(got.scores, want.scores, atol=1e-3)
        else:
            agreement = float((got.label_map == want.label_map).mean())
            assert agreement >= 0.9999, f"{name} {frame.shape}: {agreement:.5f}"


def test_session_describes_the_model_as_onnxruntime_does(exported):
    pytest.importorskip("openvino")
    import onnxruntime as ort

    from livevision.models.session import create_session

    path = exported("segformer").onnx_path
    ours, theirs = create_session(path, "openvino"), ort.InferenceSession(str(path), providers=[CPU])
    for mine, ort_args in ((ours.get_inputs(), theirs.get_inputs()), (ours.get_outputs(), theirs.get_outputs())):
        assert [(a.name, a.shape, a.type) for a in mine] == [(a.name, a.shape, a.type) for a in ort_args]
    assert ours.get_providers() == ["OpenVINO:CPU"]
    x = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    name = theirs.get_inputs()[0].name
    for got, want in zip(ours.run(None, {name: x}), theirs.run(None, {name: x})):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("precision, name", [("auto", "vit"), ("int8", "vit"), ("int8", "resnet")])
def test_int8_variants_run_on_openvino_through_the_accuracy_gate(precision, name, exported, tmp_path):
    pytest.importorskip("openvino")
    from livevision.models.cache import PROCESSOR_FILE
    from livevision.models.variants import choose_variant, synthetic_calibration_frames
    from livevision.preprocessing.preprocess import build_preprocessor

    entry = exported(name)
    preprocess = build_preprocessor(entry.read_json(PROCESSOR_FILE))
    frames = [preprocess(frame).pixel_values for frame in synthetic_calibration_frames(4, (160, 120))]
    _, report = choose_variant(entry.onnx_path, tmp_path, task="classification", model_type=name,
                               calibration_inputs=frames, device="openvino", precision=precision,
                               runs=3, warmup=1, keep_candidates=True)
    assert report["provider"] == "OpenVINO:CPU"
    # the static QDQ INT8 OpenVINO runs fastest, not the transformer profile's dynamic INT8 (slower than FP32)
    assert [c["kind"] for c in report["candidates"]] == ["fp32", "int8-static"]
    int8 = report["candidates"][1]
    assert int8["passed"] is not None and int8["metrics"] and int8["latency_ms"] > 0  # gated and timed on it
    assert (tmp_path / "model.int8-static.onnx").is_file()


def test_variant_cache_key_names_the_openvino_version():
    openvino = pytest.importorskip("openvino")
    from livevision.models.variants import variant_key_options

    options = variant_key_options("int8", "OpenVINO:CPU", "synthetic-v1")
    assert options["provider"] == "OpenVINO:CPU" and options["openvino"] == openvino.__version__.split("-")[0]
    assert "openvino" not in variant_key_options("int8", "CPUExecutionProvider", "synthetic-v1")


# --device auto on ORT's CPU provider: OpenVINO's CPU device only where it measures OPENVINO_MIN_SPEEDUP faster.
def _fake_timings(monkeypatch, ort_s: float, openvino_s: float) -> list[str]:
    """Replace the timing with fixed seconds per runtime; returns the providers it was called with."""
    from livevision.models import session as session_module

    calls: list[str] = []

    def timed_run(session, feed):
        session.run(None, feed)
        calls.append(session.get_providers()[0])
        return openvino_s if openvino_session.is_openvino_runtime(calls[-1]) else ort_s

    monkeypatch.setattr(session_module, "_timed_run", timed_run)
    return calls


def _input_shape(entry) -> tuple[int, ...]:
    """The model input's shape for a 160x120 frame (the loader passes it for a 640x480 one)."""
    from livevision.models.cache import PROCESSOR_FILE
    from livevision.preprocessing.preprocess import build_preprocessor

    preprocess = build_preprocessor(entry.read_json(PROCESSOR_FILE))
    return preprocess(np.zeros((120, 160, 3), np.uint8)).pixel_values.shape


def _assert_parity(session, path, shape):
    import onnxruntime as ort

    from livevision.models.session import synthetic_feed

    reference = ort.InferenceSession(str(path), providers=[CPU])
    feed = synthetic_feed(reference, shape)
    for got, want in zip(session.run(None, feed), reference.run(None, feed)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-4)


@pytest.mark.parametrize("ort_ms, openvino_ms, chosen", [(100.0, 80.0, "OpenVINO:CPU"), (100.0, 95.0, CPU),
                                                         (80.0, 100.0, CPU), (4.0, 2.0, CPU)])
def test_auto_picks_openvino_only_where_it_measures_faster(monkeypatch, exported, tmp_path, caplog, ort_ms,
                                                          openvino_ms, chosen):
    pytest.importorskip("openvino")
    from livevision.models.session import create_session

    entry = exported("vit")
    path, shape = entry.onnx_path, _input_shape(entry)
    calls = _fake_timings(monkeypatch, ort_ms / 1e3, openvino_ms / 1e3)
    with caplog.at_level("INFO", logger="livevision.models.session"):
        session = create_session(path, "auto", engine_cache_dir=tmp_path, auto_input_shape=shape)
    assert session.get_providers()[0] == chosen
    assert calls == [CPU, "OpenVINO:CPU"] * 4  # a warm-up and 3 timed runs each, alternating
    lines = [r.getMessage() for r in caplog.records if "--device auto" in r.getMessage()]
    assert len(lines) == 1 and f"ONNX Runtime CPU {ort_ms:.1f} ms, OpenVINO CPU {openvino_ms:.1f} ms" in lines[0]
    _assert_parity(session, path, shape)
    # remembered per model file and machine: the next load does not measure again
    calls.clear()
    assert create_session(path, "auto", engine_cache_dir=tmp_path, auto_input_shape=shape).get_providers()[0] == \
        chosen
    assert calls == []


def test_auto_does_not_measure_without_openvino_or_with_device_cpu(monkeypatch, exported, tmp_path, no_openvino,
                                                                  caplog):
    from livevision.models.session import create_session

    entry = exported("vit")
    path, shape = entry.onnx_path, _input_shape(entry)
    calls = _fake_timings(monkeypatch, 0.01, 0.001)
    with caplog.at_level("DEBUG", logger="livevision.models.session"):
        assert create_session(path, "auto", engine_cache_dir=tmp_path, auto_input_shape=shape).get_providers() == \
            [CPU]
        monkeypatch.delitem(sys.modules, "openvino")  # installed again (where it is)
        for device, auto_openvino in (("cpu", True), ("auto", False)):  # --device cpu; --pre-post device
            assert create_session(path, device, engine_cache_dir=tmp_path, auto_openvino=auto_openvino,
                                  auto_input_shape=shape).get_providers() == [CPU]
    assert not [r for r in caplog.records if "--device auto" in r.getMessage()]  # not even tried
    assert calls == []


@pytest.mark.parametrize("pre_post, chosen", [("auto", "OpenVINO:CPU"), ("device", CPU)])
def test_a_run_on_auto_opens_the_session_auto_chose(monkeypatch, exported, pre_post, chosen):
    pytest.importorskip("openvino")
    from livevision.models import session as session_module
    from livevision.predictor import Predictor, RuntimeOptions
    from test_parity import synthetic_frames

    # the shared cache neither remembers this choice nor gives one an earlier test's load made
    monkeypatch.setattr(session_module, "_write_choice", lambda *args: None)
    monkeypatch.setattr(session_module, "_read_choices", lambda *args: {})
    _fake_timings(monkeypatch, 0.02, 0.01)
    entry = exported("vit")
    ours = Predictor(entry, Task.CLASSIFICATION, runtime=RuntimeOptions(device="auto", precision="fp32",
                                                                        pre_post=pre_post))
    reference = Predictor(entry, Task.CLASSIFICATION, runtime=RuntimeOptions(device="cpu", precision="fp32",
                                                                             pre_post="host"))
    assert ours.provider == chosen
    for frame in synthetic_frames():
        got, want = ours(frame), reference(frame)
        assert list(got.labels) == list(want.labels)
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-3)


def test_auto_does_not_time_openvino_where_the_input_size_follows_the_frame(monkeypatch, exported):
    """OpenVINO compiles each input shape: a shape guessed at load would compile again at the first frame (Depth
    Anything V2 Small's took 37 s on a busy machine), so auto times it only where the shape is fixed."""
    pytest.importorskip("openvino")
    from livevision.models import session as session_module
    from livevision.predictor import Predictor, RuntimeOptions

    monkeypatch.setattr(session_module, "_write_choice", lambda *args: None)
    monkeypatch.setattr(session_module, "_read_choices", lambda *args: {})
    calls = _fake_timings(monkeypatch, 0.02, 0.01)  # OpenVINO would win
    ours = Predictor(exported("depth_anything"), Task.DEPTH, runtime=RuntimeOptions(device="auto", precision="fp32"))
    assert ours.provider == CPU and calls == []
