"""Options are parsed once, where they enter: one error type (OptionError, a UsageError and a ValueError) with a
one-line message for a bad value, whichever edge it came through (pipeline(), load_model, stream(), the CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest

import livevision
from livevision.cli import build_parser, main
from livevision.errors import OptionError, UsageError
from livevision.options import LOAD_KEYS, LoadOptions, ModelOptions, PostprocessOptions, cli_flag
from livevision.types import Precision, PrePost, ResizeMode, SegmentationKind

# (keyword, bad value, how the CLI spells it)
BAD = [("precision", "int4", "--precision"), ("resize", "bicubic", "--resize"), ("pre_post", "gpu", "--pre-post"),
       ("batch", 0, "--batch"), ("batch", "two", "--batch")]


def _one_line(exc: BaseException) -> str:
    message = str(exc)
    assert message and "\n" not in message
    return message


@pytest.mark.parametrize("key, value, flag", BAD)
def test_pipeline_gives_a_value_error(key, value, flag):
    with pytest.raises(ValueError) as info:  # what transformers' users catch
        livevision.pipeline("depth-estimation", model="no/such-model", **{key: value})
    assert isinstance(info.value, OptionError)
    assert _one_line(info.value).startswith(f"{key} ") and repr(value) in str(info.value)


@pytest.mark.parametrize("key, value, flag", BAD)
def test_load_model_gives_the_same_error(key, value, flag):
    with pytest.raises(OptionError) as info:  # before any model is looked for
        livevision.load_model("no/such-model", "depth", **{key: value})
    assert _one_line(info.value).startswith(f"{key} ")


@pytest.mark.parametrize("key, value, flag", BAD)
def test_stream_gives_the_same_error_before_the_source_opens(key, value, flag, tmp_path):
    with pytest.raises(OptionError) as info:  # the source does not exist: the options are parsed first
        livevision.stream(str(tmp_path / "missing.mp4"), "depth", **{key: value})
    assert _one_line(info.value).startswith(f"{key} ")


@pytest.mark.parametrize("key, value, flag", BAD)
def test_the_cli_gives_the_same_error_as_one_line_naming_the_flag(key, value, flag, capsys, tmp_path):
    argv = ["run", "--source", str(tmp_path / "missing.mp4"), "--no-display", flag, str(value)]
    args = build_parser().parse_args(argv)
    with pytest.raises(OptionError, match=f"^{flag} "):
        args.handler(args)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"livevision: error: {flag} ")


def test_export_parses_its_options_before_exporting(capsys):
    assert main(["export", "no/such-model", "--task", "depth", "--precision", "int4"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--precision must be one of auto, fp32, fp16, int8" in err


def test_postprocess_options_name_the_option_as_each_edge_does(capsys):
    with pytest.raises(OptionError, match="^subtask must be one of semantic, instance, panoptic, got 'stuff'"):
        livevision.pipeline("image-segmentation", model="no/such-model", subtask="stuff")
    with pytest.raises(OptionError, match="^top_k must be a positive integer"):
        livevision.pipeline("image-classification", model="no/such-model", top_k=0)
    with pytest.raises(OptionError, match="^threshold must be between 0 and 1"):
        PostprocessOptions(threshold=2)
    assert main(["run", "--no-display", "--top-k", "0"]) == 2
    assert capsys.readouterr().err.strip() == "livevision: error: --top-k must be a positive integer, got 0"


def test_a_bad_device_is_an_option_error_too():
    with pytest.raises(OptionError, match="unknown device 'gpu'"):
        livevision.load_model("no/such-model", "depth", device="gpu")
    with pytest.raises(ValueError, match="device"):
        livevision.pipeline("depth-estimation", model="no/such-model", device=True)


def test_values_are_typed_once_parsed():
    options = LoadOptions.parse({"precision": "int8", "resize": "fast", "pre_post": "host", "batch": "4",
                                 "cache_dir": "models", "input_size": 252})
    assert options.precision is Precision.INT8 and options.resize is ResizeMode.FAST
    assert options.pre_post is PrePost.HOST and options.batch == 4 and options.cache_dir == Path("models")
    assert LoadOptions(precision="fp32").precision is Precision.FP32  # built directly: the same parsers
    assert PostprocessOptions(segmentation_mode="instance").segmentation_mode is SegmentationKind.INSTANCE
    assert LoadOptions.parse({"live": True}, base=options).precision is Precision.INT8


def test_an_unknown_option_is_a_type_error_naming_the_known_ones():
    with pytest.raises(TypeError, match="unknown option precison: the LoadOptions are revision, cache_dir"):
        LoadOptions.parse({"precison": "int8"})
    with pytest.raises(TypeError, match="precison"):
        livevision.load_model("no/such-model", "depth", precison="int8")


def test_pipeline_takes_every_load_option():
    """hf_pipeline derives the load keywords it takes from LoadOptions' fields: none is refused as unknown."""
    for key in LOAD_KEYS:
        with pytest.raises(OptionError):  # each one reaches the parser (and is refused for its value only)
            livevision.pipeline("depth-estimation", model="no/such-model", **{key: object()})


def test_cli_flags_and_the_run_options():
    assert cli_flag("pre_post") == "--pre-post" and cli_flag("allow_fallback") == "--allow-cpu-fallback"
    assert ModelOptions().load_options.live  # a run's models wait for frames between runs
    assert issubclass(OptionError, UsageError) and OptionError.exit_code == 2
