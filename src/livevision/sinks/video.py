"""VideoSink: frames to a browser-playable video file (H.264 in MP4) through an ffmpeg binary.

OpenCV's VideoWriter cannot write H.264 with the pip wheels, so frames are piped as raw BGR to
an ffmpeg process (the binary shipped by the `imageio-ffmpeg` package, or one passed in), which
ffmpeg_pipe.FramePipe starts and feeds.

Encoding (two passes for .mp4 / .mov, or when the source has audio; one otherwise):

1. frames -> ffmpeg stdin -> ``<out>.video.partial<ext>`` (.mp4 / .mov, or with audio) or
   ``<out>.partial<ext>``. MP4 and MOV are written fragmented (an empty index up front, then a
   fragment at least every second), so the file plays whenever it is cut: after a first Ctrl-C it
   is published under the output's name at once (`publish_partial`), and a second Ctrl-C, which
   ends the process, leaves a playable video of what was written (without the audio)::

       ffmpeg -hide_banner -nostats -loglevel error -y
              -f rawvideo -pix_fmt bgr24 -s WxH -framerate NUM/DEN -i pipe:0
              -map 0:v:0 -an -vf [pad=W2:H2:0:0:color=black,]scale=out_color_matrix=bt709:out_range=tv,
                                  format=yuv420p,setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709
              -c:v libx264 -preset PRESET -crf CRF
              [-movflags +frag_keyframe+empty_moov+default_base_moof -frag_duration 1000000] -f mp4 OUT

2. at close, into a plain MP4 with its index up front (+faststart) for browsers: without audio a
   stream copy; when `audio_from` has an audio stream, copy the video and add the audio, padded
   with silence and cut to exactly N/fps seconds so the video is never shortened::

       ffmpeg ... -i VIDEO_TMP -i AUDIO_FROM -map 0:v:0 -map 1:a? -c:v copy
              -filter:a apad -c:a aac -t N/fps [-movflags +faststart] -f mp4 <out>.partial<ext>

   (A single pass with ``-shortest`` was tried: with a live pipe its cut point varies from run
   to run, and without ``apad`` a short audio track cuts the video.)

Then the partial file is renamed into place. On any failure the temporary files are removed.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import MissingDependencyError, UsageError
from ._paths import check_output_file, move_into_place, partial_path, publish_partial_file, remove_quietly
from .base import Sink, SourceTimeline
from .errors import EncoderError, SinkError
from .ffmpeg import as_fraction, ffmpeg_encoders, find_ffmpeg, has_audio, last_line, new_process_group_kwargs
from .ffmpeg_pipe import FramePipe

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Container:
    ffmpeg_format: str
    video_codec: str  # ffmpeg encoder name
    audio_codec: str
    faststart: bool


_CONTAINERS: dict[str, _Container] = {
    ".mp4": _Container("mp4", "libx264", "aac", faststart=True),
    ".mov": _Container("mov", "libx264", "aac", faststart=True),
    ".mkv": _Container("matroska", "libx264", "aac", faststart=False),
    ".avi": _Container("avi", "mjpeg", "pcm_s16le", faststart=False),
}

SUPPORTED_VIDEO_EXTENSIONS: tuple[str, ...] = tuple(_CONTAINERS)
""".mp4/.mov/.mkv: H.264 (yuv420p) + AAC; .avi: Motion JPEG + PCM audio."""

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
ODD_SIZE_MODES = ("pad", "crop")


class VideoSink(SourceTimeline, Sink):
    """Write BGR frames to a video file; the file appears under `path` only once it is complete.

    path: .mp4 (H.264, yuv420p, +faststart, BT.709 tags: plays in browsers), .mov, .mkv (H.264),
        or .avi (Motion JPEG). Anything else raises OutputPathError at construction.
    fps: frame rate; a Fraction or "30000/1001" is kept exactly, floats are snapped (see as_fraction).
    audio_from: a local media file whose audio streams are copied in (re-encoded: AAC, PCM for
        .avi), padded with silence or cut to the video's length. A file without audio is fine.
    crf, preset: libx264 quality (0-51, lower is better) and speed. Defaults favour live use.
    odd_size: yuv420p needs even sizes. "pad" (default) adds a black column/row on the
        right/bottom; "crop" drops the last column/row.
    ffmpeg_exe: the binary to use; default imageio-ffmpeg's, else `ffmpeg` on PATH.
    write_timeout_s: write_frame() gives up (EncoderError) when ffmpeg accepts no data for this long.
    close_timeout_s: how long close() waits for ffmpeg to finish before killing it.

    The frame size is taken from the first frame; later frames of another size are resized to it.
    write_view(view, index): a ViewSink, on the source's timeline (see SourceTimeline).
    write_frame(frame): append one frame, (H, W, 3) BGR uint8 ((H, W) gray and (H, W, 4) BGRA are converted).
    It returns once ffmpeg has taken the whole frame, so the caller may reuse the array. The
    bytes go through a small writer thread: an interrupt (Ctrl-C) in the caller never leaves half
    a frame in the pipe, and a dead ffmpeg is noticed within 0.1 s (EncoderError with ffmpeg's
    last message). Call write_view/write_frame/close from one thread.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float | Fraction | str,
        *,
        audio_from: str | os.PathLike[str] | None = None,
        crf: int = 20,
        preset: str = "veryfast",
        odd_size: str = "pad",
        ffmpeg_exe: str | os.PathLike[str] | None = None,
        write_timeout_s: float = 60.0,
        close_timeout_s: float = 300.0,
    ) -> None:
        self.fps = as_fraction(fps)
        if not (isinstance(crf, int) and 0 <= crf <= 51):
            raise UsageError(f"invalid crf {crf!r}: must be an integer from 0 to 51")
        if preset not in X264_PRESETS:
            raise UsageError(f"invalid preset {preset!r}: choose one of {', '.join(X264_PRESETS)}")
        if odd_size not in ODD_SIZE_MODES:
            raise UsageError(f"invalid odd_size {odd_size!r}: choose pad or crop")
        self.path = check_output_file(path, SUPPORTED_VIDEO_EXTENSIONS, "video")
        self._container = _CONTAINERS[self.path.suffix.lower()]
        self._exe = find_ffmpeg(ffmpeg_exe)
        if self._container.video_codec not in ffmpeg_encoders(self._exe):
            raise MissingDependencyError(
                f"ffmpeg {self._exe!r} has no {self._container.video_codec} encoder, needed for {str(self.path)!r}"
            )
        self.audio_from: Path | None = None
        if audio_from is not None:
            src = Path(audio_from).expanduser()
            if not src.is_file():
                raise SinkError(f"audio_from {str(src)!r}: no such file")
            if has_audio(self._exe, src):
                self.audio_from = src
            else:
                logger.info("%s has no audio track; writing %s without audio", src, self.path)
        self.crf = crf
        self.preset = preset
        self.odd_size = odd_size
        self.write_timeout_s = float(write_timeout_s)
        self.close_timeout_s = float(close_timeout_s)
        self.frame_wh: tuple[int, int] | None = None  # size of the first frame
        self._partial = partial_path(self.path)
        self._fragmented = self._container.faststart  # MP4 / MOV: see the module docstring
        two_passes = self.audio_from is not None or self._fragmented
        self._video_tmp = partial_path(self.path, ".video") if two_passes else None
        self._pipe: FramePipe | None = None
        self._finishing: subprocess.Popen | None = None  # the second pass, while it runs
        self._finished = False  # the file is complete under its name
        self._warned_resize = False

    # ---- public -------------------------------------------------------------------------

    def write_frame(self, frame: np.ndarray) -> None:
        """Append one frame. Blocks while ffmpeg is busy (back-pressure); raises EncoderError if it died."""
        if self._closed:
            raise SinkError(f"write to closed VideoSink {str(self.path)!r}")
        frame = self._as_bgr(frame)
        if self._pipe is None:
            self.frame_wh = (frame.shape[1], frame.shape[0])
            self._start()
        elif (frame.shape[1], frame.shape[0]) != self.frame_wh:
            if not self._warned_resize:
                logger.warning(
                    "frame size %dx%d differs from the first frame's %dx%d: resizing (warned once)",
                    frame.shape[1],
                    frame.shape[0],
                    *self.frame_wh,
                )
                self._warned_resize = True
            frame = cv2.resize(frame, self.frame_wh, interpolation=cv2.INTER_AREA)
        failure = self._pipe.write(np.ascontiguousarray(frame), self.write_timeout_s)
        if failure is not None:
            self._fail(failure)

    @property
    def frames_written(self) -> int:
        """Frames ffmpeg has taken completely (counted by the writer thread)."""
        return self._pipe.frames_written if self._pipe is not None else 0

    @property
    def output_wh(self) -> tuple[int, int] | None:
        """The encoded (width, height): the first frame's size made even (see odd_size)."""
        if self.frame_wh is None:
            return None
        w, h = self.frame_wh
        if self.odd_size == "pad":
            return w + w % 2, h + h % 2
        return w - w % 2, h - h % 2

    def ffmpeg_args(self) -> list[str]:
        """The argument list of the encoding ffmpeg (available once the first frame set the size)."""
        if self.frame_wh is None:
            raise SinkError("the ffmpeg command is known after the first frame")
        return self._encode_args(self._video_tmp or self._partial)

    # ---- internals ----------------------------------------------------------------------

    @staticmethod
    def _as_bgr(frame: np.ndarray) -> np.ndarray:
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be a uint8 numpy array, got {getattr(frame, 'dtype', type(frame))}")
        if frame.ndim == 2:
            return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        if frame.ndim == 3 and frame.shape[2] == 3:
            return frame
        if frame.ndim == 3 and frame.shape[2] == 4:
            return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
        raise ValueError(f"frame must have shape (H, W, 3), (H, W) or (H, W, 4), got {frame.shape}")

    def _common(self) -> list[str]:
        return [self._exe, "-hide_banner", "-nostats", "-loglevel", "error", "-y"]

    def _encode_args(self, out: Path) -> list[str]:
        assert self.frame_wh is not None and self.output_wh is not None
        w, h = self.frame_wh
        ow, oh = self.output_wh
        args = self._common() + [
            "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}",
            "-framerate", f"{self.fps.numerator}/{self.fps.denominator}",
            "-i", "pipe:0", "-map", "0:v:0", "-an",
        ]  # fmt: skip
        filters = []
        if (ow, oh) != (w, h):
            filters.append(f"pad={ow}:{oh}:0:0:color=black" if self.odd_size == "pad" else f"crop={ow}:{oh}:0:0")
        if self._container.video_codec == "libx264":
            filters += [
                "scale=out_color_matrix=bt709:out_range=tv",
                "format=yuv420p",
                "setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709",
            ]
            codec = ["-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf)]
        else:  # Motion JPEG: full-range BT.601, the JPEG convention
            filters += ["scale=out_color_matrix=bt601:out_range=pc", "format=yuvj420p"]
            codec = ["-c:v", "mjpeg", "-q:v", "3"]
        args += ["-vf", ",".join(filters), *codec]
        if self._fragmented:
            args += ["-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-frag_duration", "1000000",
                     "-flush_packets", "1"]
        return args + ["-f", self._container.ffmpeg_format, str(out)]

    def _finish_args(self) -> list[str]:
        """The second pass: the video copied into the final container, with the audio when there is some."""
        assert self._video_tmp is not None
        if self.audio_from is None:
            args = self._common() + ["-i", str(self._video_tmp), "-map", "0:v:0", "-c:v", "copy"]
        else:
            duration = Fraction(self.frames_written) / self.fps
            seconds = math.ceil(duration * 1_000_000) / 1_000_000  # never cut the last frame
            args = self._common() + [
                "-i", str(self._video_tmp), "-i", str(self.audio_from),
                "-map", "0:v:0", "-map", "1:a?", "-c:v", "copy",
                "-filter:a", "apad", "-c:a", self._container.audio_codec, "-t", f"{seconds:.6f}",
            ]  # fmt: skip
        if self._container.faststart:
            args += ["-movflags", "+faststart"]
        return args + ["-f", self._container.ffmpeg_format, str(self._partial)]

    def _start(self) -> None:
        args = self.ffmpeg_args()
        logger.debug("starting ffmpeg: %s", args)
        try:
            self._pipe = FramePipe(args, logger)
        except OSError as e:
            self._closed = True
            raise EncoderError(f"cannot start ffmpeg {self._exe!r} for {str(self.path)!r}: {e}") from None

    def _fail(self, what: str) -> None:
        """ffmpeg died or hung during write: clean up and raise (close() becomes a no-op)."""
        self._closed = True
        pipe = self._pipe
        assert pipe is not None
        rc = pipe.exit_code(2)
        self._cleanup()
        raise EncoderError(f"{what} {str(self.path)!r} (exit code {rc}): {pipe.last_message()}")

    def _cleanup(self) -> None:
        if self._pipe is not None:
            self._pipe.kill()
        self._remove_temporary(self._video_tmp)
        self._remove_temporary(self._partial)

    def _remove_temporary(self, path: Path | None) -> None:
        if path is not None and path != self.path:  # a published partial is the user's output now
            remove_quietly(path)

    def publish_partial(self) -> bool:
        """Put what ffmpeg is writing under the output's name now (a first Ctrl-C): MP4 / MOV are written
        fragmented and Matroska plays when cut, so if the process is ended before close() the user still
        has the video so far (without its audio). close() later replaces it with the finished file.
        Returns whether a file was published; AVI (its index is written last) is not."""
        writing = self._video_tmp or self._partial
        if self._pipe is None or self._container.ffmpeg_format == "avi" or not publish_partial_file(writing, self.path):
            return False
        if writing == self._video_tmp:
            self._video_tmp = self.path
        else:
            self._partial = self.path
        return True

    def end_now(self, grace_s: float = 10.0) -> None:
        """The process is ending now (a second Ctrl-C): leave a playable file under the output's name and
        no ffmpeg running, without the second pass (no audio, no faststart). ffmpeg is told to write what it
        holds and waited for up to grace_s (then killed: an MP4 / MOV then plays up to its last fragment).
        Safe while write_frame() or close() of this sink was interrupted, in the same thread."""
        if self._finished or self._pipe is None:
            return
        self._closed = True  # a write_frame() from another thread (`livevision batch`) now fails at once
        if self._finishing is not None:  # the first pass is complete: keep it, stop the second
            self._finishing.kill()
            self._finishing.wait()
        rc = self._pipe.end_now(grace_s)
        first_pass = self._video_tmp or self._partial
        if rc == 0 and first_pass != self.path and first_pass.exists():
            move_into_place(first_pass, self.path)
        self._remove_temporary(self._partial)
        self._remove_temporary(self._video_tmp)

    def _close(self) -> None:
        pipe = self._pipe
        if pipe is None:
            logger.warning("no frames were written: %s not created", self.path)
            return
        done = False
        try:
            try:
                rc = pipe.end(self.close_timeout_s)
            except subprocess.TimeoutExpired:
                raise EncoderError(
                    f"ffmpeg did not finish {str(self.path)!r} within {self.close_timeout_s:g} s; killed it"
                ) from None
            last = pipe.last_message()  # also waits for the end of ffmpeg's stderr
            if rc != 0:
                raise EncoderError(f"ffmpeg failed writing {str(self.path)!r} (exit code {rc}): {last}")
            if self._video_tmp is not None:
                self._finish()
            move_into_place(self._partial, self.path)
            self._finished = done = True
        finally:
            if not done:
                self._cleanup()
            else:
                self._remove_temporary(self._video_tmp)

    def _finish(self) -> None:
        args = self._finish_args()
        logger.debug("finishing the video: %s", args)
        self._finishing = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.PIPE, **new_process_group_kwargs())
        proc = self._finishing
        try:
            _, stderr = proc.communicate(timeout=self.close_timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise EncoderError(
                f"ffmpeg did not finish {str(self.path)!r} within {self.close_timeout_s:g} s"
            ) from None
        finally:
            self._finishing = None
        if proc.returncode != 0:
            last = last_line(stderr.decode("utf-8", "replace").splitlines()) or "no message from ffmpeg"
            what = f"adding audio from {str(self.audio_from)!r} to" if self.audio_from is not None else "finishing"
            raise EncoderError(f"ffmpeg failed {what} {str(self.path)!r} (exit code {proc.returncode}): {last}")


__all__ = ["VideoSink", "SUPPORTED_VIDEO_EXTENSIONS"]
