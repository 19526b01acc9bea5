"""The page side of counter_video: JavaScript that reads a counter frame's code in the browser, and a
probe that records, for every frame a <video> presents, the counters it and a second <video> show.

Both are plain sources for a page (playwright's add_init_script, or a <script>); they define globals:

    livevisionReadCounter(videoOrCanvas) -> index or null
    livevisionProbe.start(returned, local)  // elements or CSS selectors; local may be null
    livevisionProbe.stop() -> how many records
    livevisionProbe.records() -> [{t, remote, local, presented, width, height, receiveTime}, ...]
    livevisionProbe.take() -> the records so far, and starts a new list

t is performance.now() in ms when the returned frame was handed to requestVideoFrameCallback; remote
its counter, local the counter the local <video> shows then (the camera's newest frame), presented
the browser's count of presented frames, receiveTime (WebRTC only) when its last packet arrived.
"""

from __future__ import annotations

import json

_READER = """
(() => {
  const G = __GEOMETRY__;
  let ctx = null;
  const crc8 = (value) => {
    let crc = 0;
    for (let shift = G.indexBits - 1; shift >= 0; shift--) {
      const top = ((crc >> 7) & 1) ^ ((value >> shift) & 1);
      crc = (crc << 1) & 0xff;
      if (top) crc ^= G.crcPoly;
    }
    return crc ^ G.crcXor;
  };
  const number = (bits) => bits.reduce((acc, bit) => acc * 2 + bit, 0);
  const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
  // The code's region, scaled to columns x 2 cells; the middle of each cell averaged (as read_counter).
  window.livevisionReadCounter = (element) => {
    const width = element.videoWidth ?? element.width, height = element.videoHeight ?? element.height;
    if (!width || !height || width < 64 || height < 48) return null;
    const cell = G.cellPx, inner = G.innerPx, w = G.columns * cell, h = 2 * cell;
    if (ctx === null) ctx = new OffscreenCanvas(w, h).getContext("2d", {willReadFrequently: true});
    const x0 = Math.round(G.box[0] * width), y0 = Math.round(G.box[1] * height);
    const x1 = Math.round(G.box[2] * width), y1 = Math.round(G.box[3] * height);
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(element, x0, y0, x1 - x0, y1 - y0, 0, 0, w, h);
    const px = ctx.getImageData(0, 0, w, h).data;
    const lo = (cell - inner) >> 1, bits = [];
    for (let column = 0; column < G.columns; column++) {
      const means = [0, 1].map((row) => {
        let sum = 0;
        for (let y = row * cell + lo; y < row * cell + lo + inner; y++) {
          for (let x = column * cell + lo; x < column * cell + lo + inner; x++) {
            const i = 4 * (y * w + x);
            sum += 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
          }
        }
        return sum / (inner * inner);
      });
      const difference = means[0] - means[1];
      if (Math.abs(difference) < G.minContrast) return null;
      bits.push(difference > 0 ? 1 : 0);
    }
    const start = G.ends[0].length, end = bits.length - G.ends[1].length;
    if (!same(bits.slice(0, start), G.ends[0]) || !same(bits.slice(end), G.ends[1])) return null;
    const index = number(bits.slice(start, start + G.indexBits));
    return number(bits.slice(start + G.indexBits, end)) === crc8(index) ? index : null;
  };
})();
"""

FRAME_PROBE_JS = """
window.livevisionProbe = (() => {
  let records = [], active = false, handle = null, returned = null, local = null;
  const element = (x) => (typeof x === "string" ? document.querySelector(x) : x);
  const onFrame = (now, meta) => {
    if (!active) return;
    records.push({
      t: performance.now(),
      remote: window.livevisionReadCounter(returned),
      local: local ? window.livevisionReadCounter(local) : null,
      presented: meta.presentedFrames, width: meta.width, height: meta.height,
      receiveTime: meta.receiveTime ?? null,
    });
    handle = returned.requestVideoFrameCallback(onFrame);
  };
  const stop = () => {
    active = false;
    if (returned && handle !== null) returned.cancelVideoFrameCallback(handle);
    handle = null;
    return records.length;
  };
  const start = (returnedVideo, localVideo) => {
    stop();
    returned = element(returnedVideo);
    local = localVideo ? element(localVideo) : null;
    if (!returned) throw new Error("livevisionProbe.start: no returned <video> " + returnedVideo);
    records = [];
    active = true;
    handle = returned.requestVideoFrameCallback(onFrame);
  };
  const take = () => { const taken = records; records = []; return taken; };
  return {start, stop, take, records: () => records};
})();
"""


def counter_reader_js(*, columns: int, box: tuple[float, float, float, float], cell_px: int, inner_px: int,
                      min_contrast: float, index_bits: int, crc: tuple[int, int],
                      ends: tuple[tuple[int, ...], tuple[int, ...]]) -> str:
    """The source defining window.livevisionReadCounter for a code of this geometry (counter_video's)."""
    geometry = {"columns": columns, "box": list(box), "cellPx": cell_px, "innerPx": inner_px,
                "minContrast": min_contrast, "indexBits": index_bits, "crcPoly": crc[0], "crcXor": crc[1],
                "ends": [list(ends[0]), list(ends[1])]}
    return _READER.replace("__GEOMETRY__", json.dumps(geometry))
