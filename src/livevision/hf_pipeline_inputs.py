"""`livevision.pipeline`'s inputs as transformers takes them: images (PIL, RGB arrays, paths, URLs, data URIs,
base64 text), lists and iterables of them, and torch `Dataset`s (transformers' `KeyDataset` is one), read
as the uint8 BGR frames livevision's models take. torch is never imported here: an object can only be a
torch Dataset when its caller imported torch."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from .errors import MissingDependencyError, UsageError


def pil():
    try:
        from PIL import Image
    except ImportError:
        raise MissingDependencyError("livevision.pipeline gives PIL images, as transformers does: "
                                     "pip install pillow") from None
    return Image


def is_one_image(value) -> bool:
    if isinstance(value, (str, Path)) or isinstance(value, np.ndarray):
        return True
    return type(value).__module__.startswith("PIL.")


def dataset_items(inputs) -> tuple[Iterable, int] | None:
    """A map-style torch Dataset (transformers' KeyDataset, a user's Dataset: `__getitem__` and `__len__`,
    no `__iter__`) as its items in index order and their number, as transformers' DataLoader reads it; None
    for anything else (iterable datasets are iterables)."""
    data = sys.modules.get("torch.utils.data")
    if data is None or not isinstance(inputs, data.Dataset) or isinstance(inputs, Iterable):
        return None
    try:
        size = len(inputs)
    except TypeError:
        raise UsageError(f"a torch Dataset without __len__ ({type(inputs).__name__}) cannot be read in order: "
                         "give it __len__, or pass an IterableDataset or a generator") from None
    return (inputs[i] for i in range(size)), size


class Outputs(Iterator):
    """The pipeline's results for a dataset or generator, one at a time, as transformers returns them (an
    iterator); `len()` where the input had one."""

    def __init__(self, results: Iterator, size: int | None = None):
        self._results, self._size = results, size

    def __next__(self):
        return next(self._results)

    def __len__(self) -> int:
        if self._size is None:
            raise TypeError("the results of a generator have no len()")
        return self._size


def open_image(where: str | Path, timeout: float | None = None):
    """A path, an http(s) URL (given `timeout` seconds, 30 by default), a data URI or base64 text as an RGB
    PIL image, as transformers' load_image opens them (EXIF orientation applied)."""
    import io

    Image = pil()
    from PIL import ImageOps

    text = str(where)
    if text.startswith(("http://", "https://")):
        import urllib.request

        try:
            with urllib.request.urlopen(text, timeout=timeout or 30) as response:  # noqa: S310 (the user's URL)
                data = io.BytesIO(response.read())
        except OSError as exc:
            raise UsageError(f"could not download {text}: {exc}") from None
        opened = Image.open(data)
    elif _is_file(text):
        opened = Image.open(text)
    else:
        opened = Image.open(io.BytesIO(_base64_image(text)))
    with opened:
        return ImageOps.exif_transpose(opened).convert("RGB")


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except OSError:  # a name too long for a path: base64 text, not a file
        return False


def _base64_image(text: str) -> bytes:
    """The bytes of a data:image/...;base64, URI or of base64 text; UsageError (one line) for text that is
    neither (nor a file)."""
    import base64
    import binascii

    shown = text if len(text) <= 60 else text[:57] + "..."
    payload = text.split(",", 1)[1] if text.startswith("data:image/") and "," in text else text
    try:
        data = base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        data = b""
    if not data.startswith((b"\x89PNG", b"\xff\xd8", b"GIF8", b"BM", b"RIFF", b"II*", b"MM\x00*")):
        raise UsageError(f"no image at {shown}: not a file, an http(s) URL, a data URI or base64 image data")
    return data


def bgr(image, timeout: float | None = None) -> np.ndarray:
    """A pipeline input as the uint8 BGR frame livevision's models take."""
    if isinstance(image, (str, Path)):
        image = open_image(image, timeout)
    if not isinstance(image, np.ndarray):
        if not is_one_image(image):
            raise UsageError(f"a pipeline input must be an image (PIL, RGB array, path, URL or base64 text), got "
                             f"{type(image).__name__}")
        image = np.asarray(image.convert("RGB"))
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise UsageError(f"an image array must be (H, W, 3) uint8 RGB, got {image.dtype} {image.shape}")
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGR)
