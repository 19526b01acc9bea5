"""Which variant kinds measured no faster than FP32, per machine and model shape, kept in the export cache.

`--precision auto` builds, checks and times each candidate kind, which costs minutes for a large model
(the first run of Depth Anything at 252x448 spent 5.5 min on variants that all lost). Speed depends on the
graph and the machine, not on the weights: a kind that was no faster for one Depth Anything V2 Small at
252x448 on this CPU is no faster for a fine-tuned one either, so auto skips building it for the next model
of the same shape. Accuracy does depend on the weights: a gate failure is not remembered.

One JSON file in the cache folder: {machine: {shape: {kind: {"speedup": x, "model": name}}}}.
`--precision int8` (asking for a kind) still builds and times it, and updates the record;
`livevision models --clear` forgets everything.
"""

from __future__ import annotations

import json
import logging
import platform
from pathlib import Path

import numpy as np

from .cache import ModelCache, write_json_atomic
from .variant_kinds import FP32

log = logging.getLogger(__name__)

HISTORY_FILE = "variant-speed.json"


def machine_key(provider: str) -> str:
    """This machine as far as variant speed goes: the provider, ONNX Runtime's version, the CPU, its cores."""
    import onnxruntime

    from .session import physical_cores
    from .variant_build import cpu_has_vnni

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    vnni = ", vnni" if cpu_has_vnni() else ""
    return (f"{provider.replace('ExecutionProvider', '')}, onnxruntime {onnxruntime.__version__}, {cpu}, "
            f"{physical_cores()} cores{vnni}")


def shape_key(fp32_onnx: Path, model_type: str, input_shape: tuple[int, ...]) -> str:
    """The model's shape: its architecture, parameter count (from the ONNX initializers' dims; external
    weight files are not read) and input size, e.g. "depth_anything 24.8M params 252x448"."""
    import onnx

    model = onnx.load(str(fp32_onnx), load_external_data=False)
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    size = "x".join(str(d) for d in input_shape[2:])
    return f"{model_type} {params / 1e6:.1f}M params {size}"


class VariantHistory:
    """The record for one machine and model shape in `cache`."""

    def __init__(self, cache: ModelCache, machine: str, shape: str):
        self.cache, self.machine, self.shape = cache, machine, shape

    @property
    def path(self) -> Path:
        return self.cache.root / HISTORY_FILE

    def slower_kinds(self) -> dict[str, str]:
        """{kind: why it is skipped} for the kinds that measured no faster here for this shape."""
        known = self._read().get(self.machine, {}).get(self.shape, {})
        return {kind: f"{record.get('speedup')}x fp32 for {record.get('model')} (same shape, this machine)"
                for kind, record in known.items() if isinstance(record, dict)}

    def record(self, report: dict, model: str, min_speedup: float) -> None:
        """Remember the timed candidates of a choose_variant report: a kind below `min_speedup` as slower,
        one at or above it no longer (a kind asked for explicitly is timed again)."""
        timed = {c["kind"]: c["speedup"] for c in report["candidates"]
                 if c["kind"] != FP32 and c.get("speedup") is not None}
        if not timed:
            return
        try:
            with self.cache.lock("variant-history"):
                data = self._read()
                machine = data.setdefault(self.machine, {})
                known = machine.setdefault(self.shape, {})
                for kind, speedup in timed.items():
                    if speedup < min_speedup:
                        known[kind] = {"speedup": speedup, "model": model}
                    else:
                        known.pop(kind, None)
                if not known:
                    del machine[self.shape]
                write_json_atomic(self.path, data)
        except OSError as exc:  # a read-only cache: the choice still stands, only the memory is lost
            log.debug("cannot record variant speeds in %s: %s", self.path, exc)

    def _read(self) -> dict:
        """The file's records; {} when it is missing or not laid out as {machine: {shape: {kind: {...}}}}."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        valid = isinstance(data, dict) and all(
            isinstance(shapes, dict) and all(isinstance(kinds, dict) for kinds in shapes.values())
            for shapes in data.values())
        return data if valid else {}
