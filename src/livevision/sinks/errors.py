"""Exceptions the sinks raise. All are LiveVisionError children, so the CLI turns them into one line."""

from __future__ import annotations

from ..errors import LiveVisionError


class SinkError(LiveVisionError):
    """An output could not be written (base class of the sink errors)."""


class OutputPathError(SinkError):
    """An output path that cannot be used: missing parent folder, not writable, unsupported extension.

    Raised by the sink constructors, before any frame is processed.
    """


class OutputIsInputError(OutputPathError):
    """An output path that names an input (the source, a calibration clip, a model file), by path or link."""

    exit_code = 2


class EncoderError(SinkError):
    """The video encoder (ffmpeg) failed or stopped; the message ends with ffmpeg's last error line."""


class DisplayUnavailableError(SinkError):
    """A window was required but there is no display (or OpenCV was built without GUI support)."""
