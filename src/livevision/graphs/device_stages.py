"""The pre- and post-processing stages of a Predictor run as graphs on the model's provider.

    pre = DevicePreprocessor(preprocessor, model_session)       # frame -> DeviceInput
    post = device_postprocessor(head, model_session)           # (outputs, DeviceInput) -> result, or None
Both take their geometry from the numpy path's own rules, so the two paths agree on every size.
A post-processor returns None for an input it does not cover (a padded or cropped model input):
the Predictor then brings the outputs to the host and runs the head's numpy post-processing.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import numpy as np

from ..preprocessing.preprocess import Preprocessor, check_frame
from ..preprocessing.resample import pil_taps, pil_vertical_first
from ..tasks.base import Head
from ..tasks.depth.head import zoedepth_padding
from ..tasks.registry import definition
from .chain import Binder, DeviceInput, graph_session
from .pre import standard_graph, zoe_graph


_MAX_SIZES = 8  # frame sizes whose inputs are kept (as the numpy Preprocessor keeps its plans)


class DevicePreprocessor:
    """A uint8 BGR frame -> DeviceInput (pixel_values on the provider's device)."""

    def __init__(self, preprocessor: Preprocessor, model_session, *, intra_op_threads: int | None = None,
                 live: bool = False):
        self.preprocessor = preprocessor
        self.recipe = preprocessor.recipe
        self.binder = Binder(model_session)
        session = functools.partial(graph_session, like_session=model_session, intra_op_threads=intra_op_threads,
                                    live=live)
        if self.recipe.zoe is not None:
            self._sessions = {None: session(zoe_graph(self.recipe))}
        else:  # one graph per Pillow pass order
            self._sessions = {order: session(standard_graph(self.recipe, vertical_first=order))
                              for order in (False, True)}
        self._inputs: dict[tuple[int, int], tuple] = {}  # per frame size: (graph key, size inputs)

    def __call__(self, frame: np.ndarray) -> DeviceInput:
        frame = check_frame(frame)
        hw = (int(frame.shape[0]), int(frame.shape[1]))
        geometry = self.preprocessor.geometry(hw)
        key, sizes = self._inputs.get(hw) or self._size_inputs(hw, geometry)
        value = self.binder.run(self._sessions[key], {"frame": frame, **sizes}, ["pixel_values"])[0]
        return DeviceInput(value, hw, geometry.resized_hw, geometry.padding_tblr)

    def _size_inputs(self, hw: tuple[int, int], geometry) -> tuple:
        zoe = self.recipe.zoe
        if zoe is not None:
            pad = zoedepth_padding(hw) if zoe.do_pad else (0, 0)
            found = None, {"pad_hw": np.array(pad, np.int64), "out_hw": np.array(geometry.out_hw, np.int64)}
        else:
            found = pil_vertical_first(hw, geometry.resized_hw), self._standard_inputs(hw, geometry)
        while len(self._inputs) >= _MAX_SIZES:
            self._inputs.pop(next(iter(self._inputs)))
        self._inputs[hw] = found
        return found

    def _standard_inputs(self, hw: tuple[int, int], geometry) -> dict[str, Any]:
        r0, r1, c0, c1 = geometry.window
        (in_h, in_w), (out_h, out_w) = hw, geometry.resized_hw
        flt = self.recipe.filter
        # Pillow's taps stay on the device: uploaded once per frame size, not per frame.
        col_taps, col_coefs = pil_taps(in_w, out_w, flt, c0, c1)
        row_taps, row_coefs = pil_taps(in_h, out_h, flt, r0, r1)
        # Tap-major, as standard_graph takes them: (K, out).
        taps = {"col_taps": col_taps.T, "col_coefs": np.repeat(col_coefs.T[:, :, None], 3, axis=2),
                "row_taps": row_taps.T, "row_coefs": row_coefs.T[:, :, None, None]}
        taps = {name: self.binder.upload(value) for name, value in taps.items()}
        n_rows, n_cols = r1 - r0, c1 - c0
        place_r, place_c = geometry.place
        in_h_pad, in_w_pad = geometry.out_hw
        # The region the processor fills (the crop box: black where the image does not reach), inside
        # zero padding (DPT, MaskFormer pad_size).
        top, bottom, left, right = geometry.crop_box or (place_r, place_r + n_rows, place_c, place_c + n_cols)
        black = [place_r - top, bottom - place_r - n_rows, place_c - left, right - place_c - n_cols]
        zero = [top, in_h_pad - bottom, left, in_w_pad - right]
        return {**taps, "black_pads": np.array(black, np.int64),
                "zero_pads": np.array(zero, np.int64)}


class DevicePost:
    """A post-processing graph on the model's provider: the model's output in, host arrays out
    (the per-task classes are in tasks/<task>/device.py)."""

    def __init__(self, graph, model_session, intra_op_threads: int | None, live: bool):
        self.session = graph_session(graph, model_session, intra_op_threads=intra_op_threads, live=live)
        self.binder = Binder(model_session)
        self.input_names = [i.name for i in self.session.get_inputs()]

    def _run(self, model_output, sizes: dict[str, Sequence[int]], outputs: list[str]) -> list[np.ndarray]:
        inputs: dict[str, Any] = {self.input_names[0]: model_output}
        inputs.update({name: np.array(value, np.int64) for name, value in sizes.items()})
        return self.binder.run(self.session, inputs, outputs, to_host=True)


def device_postprocessor(head: Head, output_shapes: Sequence[Sequence], model_session, *,
                         intra_op_threads: int | None = None, live: bool = False):
    """The device post-processing of `head` (its task's, tasks/<task>/device.py), or None where it has
    none (class counts not fixed).

    output_shapes: the model's output shapes (their class counts must be fixed)."""
    return definition(head.task).device_post(head, output_shapes, model_session, intra_op_threads=intra_op_threads,
                                             live=live)
