"""Depth post-processing on the model's provider (see graphs.device_stages)."""

from __future__ import annotations

import numpy as np

from ...graphs.chain import DeviceInput
from ...graphs.device_stages import DevicePost
from ...graphs.post import depth_graph
from ...types import DepthResult
from .head import DepthHead, zoedepth_padding


class DepthPost(DevicePost):
    """predicted_depth -> depth at frame size (ZoeDepth: resized to the padded frame, padding cut)."""

    def __init__(self, head: DepthHead, model_session, **kwargs):
        super().__init__(depth_graph(), model_session, **kwargs)
        self.kind = head.kind
        self.zoe = head.model_type == "zoedepth"

    def __call__(self, outputs: list, prepared: DeviceInput) -> DepthResult | None:
        h, w = prepared.original_hw
        crop = (0, 0)
        if any(prepared.padding_tblr):
            if not self.zoe:
                return None
            crop = zoedepth_padding((h, w))
        resize_hw = (h + 2 * crop[0], w + 2 * crop[1])
        depth = self._run(outputs[0], {"resize_hw": resize_hw, "crop_yx": crop, "out_hw": (h, w)}, ["depth"])[0][0]
        return DepthResult(depth=np.ascontiguousarray(depth, dtype=np.float32), kind=self.kind)
