"""Every sink implements one of the two protocols of sinks.base (issue 26): ViewSink, `write_view(view, index)`,
or ResultSink, `write_result(task, output)`, with exactly those parameters, and no other `write`."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import livevision.sinks
from livevision.sinks.base import ResultSink, Sink, ViewSink

CONTRACT = {ViewSink: ("write_view", ["self", "view", "index"]),
            ResultSink: ("write_result", ["self", "task", "output"])}


def _sink_classes() -> list[type]:
    """Every Sink subclass defined in a module of livevision.sinks (the optional extras' wheels are imported
    only when a sink opens, so every module imports)."""
    found = set()
    for module in pkgutil.iter_modules(livevision.sinks.__path__):
        loaded = importlib.import_module(f"livevision.sinks.{module.name}")
        found |= {cls for _, cls in inspect.getmembers(loaded, inspect.isclass)
                  if issubclass(cls, Sink) and cls is not Sink and cls.__module__ == loaded.__name__}
    return sorted(found, key=lambda cls: cls.__name__)


def test_every_sink_module_is_searched():
    names = {cls.__name__ for cls in _sink_classes()}
    assert {"VideoSink", "ImageSink", "WindowSink", "WebViewSink", "ResultsSink", "RawArraySink", "NullSink",
            "McapSink", "RerunSink", "FoxgloveSink"} <= names


@pytest.mark.parametrize("cls", _sink_classes(), ids=lambda cls: cls.__name__)
def test_every_sink_implements_one_of_the_two_protocols(cls):
    implemented = [protocol for protocol in CONTRACT if issubclass(cls, protocol)]
    assert implemented, f"{cls.__name__} implements neither ViewSink nor ResultSink"
    for protocol in implemented:
        method, parameters = CONTRACT[protocol]
        assert list(inspect.signature(getattr(cls, method)).parameters) == parameters, \
            f"{cls.__name__}.{method} does not take {parameters[1:]}"
    assert not hasattr(cls, "write"), f"{cls.__name__} has a write() of its own beside the contract"
