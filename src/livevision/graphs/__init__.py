"""Pre- and post-processing as small ONNX graphs, run by ONNX Runtime on the model's own execution
provider, so that on a GPU the frame goes up once and only the compact result comes down.

- `post`: the model's raw outputs -> label map / depth at frame size / top-k (per head).
- `pre`: a uint8 BGR frame -> pixel_values, by the processor's resize rule.
- `chain`: runs pre -> model -> post with IO binding (no host round trip between them).
"""
