"""Checks for output paths and atomic file writes shared by the sinks."""

from __future__ import annotations

import glob
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import OutputIsInputError, OutputPathError

logger = logging.getLogger(__name__)


def check_output_file(path: str | os.PathLike[str], supported: Iterable[str], what: str) -> Path:
    """Return `path` as a Path if a `what` file can be created there, else raise OutputPathError.

    supported: the accepted extensions, lower case with the dot (".mp4").
    Checks, in order: the extension, that the path is not a folder, that the parent folder
    exists and is a folder, and that a file can be created in it (a probe file, removed at once).
    """
    p = Path(path).expanduser()
    supported = tuple(supported)
    ext = p.suffix.lower()
    if ext not in supported:
        shown = repr(ext) if ext else "(none)"
        raise OutputPathError(
            f"cannot write {what} {str(p)!r}: unsupported extension {shown}; supported: {', '.join(supported)}"
        )
    if p.is_dir():
        raise OutputPathError(f"cannot write {what} {str(p)!r}: it is a folder")
    check_writable_folder(p.parent, f"{what} {str(p)!r}")
    return p


def check_writable_folder(folder: Path, for_what: str) -> None:
    """Raise OutputPathError unless `folder` exists, is a folder and a file can be created in it."""
    shown = str(folder) if str(folder) else "."
    if not folder.exists():
        raise OutputPathError(f"cannot write {for_what}: folder {shown!r} does not exist")
    if not folder.is_dir():
        raise OutputPathError(f"cannot write {for_what}: {shown!r} is not a folder")
    # os.access says yes to root even on read-only mounts; creating a file is the real test.
    try:
        fd, probe = tempfile.mkstemp(prefix=".livevision-probe-", dir=folder)
    except OSError as e:
        reason = e.strerror or str(e)
        raise OutputPathError(f"cannot write {for_what}: folder {shown!r} is not writable ({reason})") from None
    os.close(fd)
    os.unlink(probe)


def check_output_folder(folder: Path, what: str) -> None:
    """Raise OutputPathError unless `folder` is a writable folder, or can be made in a writable one."""
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"cannot write {what} to {str(folder)!r}: it exists and is not a folder")
    if folder.exists():
        check_writable_folder(folder, f"{what} to {str(folder)!r}")
    else:
        check_writable_folder(folder.parent, f"{what} into new folder {str(folder)!r}")


def named_paths(spec: str | os.PathLike[str]) -> list[Path]:
    """The existing files and folders an argument names: a file; a folder and the files in it; a glob's
    matches. Nothing for what names no local path (a camera index or URL is the caller's to leave out)."""
    text = os.fspath(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        return [path, *(p for p in path.iterdir() if p.is_file())]
    if path.exists():
        return [path]
    if any(ch in text for ch in "*?["):
        return [Path(p) for p in glob.glob(str(path))]
    return []


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of what `path` names, links followed: os.path.samefile's test. None if absent."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def check_not_an_input(outputs: Iterable[tuple[str, Path]], inputs: Iterable[Path]) -> None:
    """Raise OutputIsInputError when an output (what, path) is one of `inputs`: the same path, or the same
    file or folder through a symbolic or hard link. Writing it would replace (or fill) the input."""
    by_identity: dict[tuple[int, int], Path] = {}
    for path in inputs:
        identity = _identity(path)
        if identity is not None:
            by_identity.setdefault(identity, path)
    for what, path in outputs:
        found = by_identity.get(_identity(path))
        if found is None:
            continue
        which = "an input" if os.path.abspath(path) == os.path.abspath(found) else \
            f"the input {str(found)!r} (through a link)"
        raise OutputIsInputError(f"{what} {str(path)!r} is {which}: writing there would replace it; "
                                 "choose another path")


# Writing a file under its name only once it is whole: every output is written to its partial_path and
# moved to its name by move_into_place (or atomic_write_bytes / atomic_write_text, for a file written at
# once); at a first Ctrl-C, publish_partial_file moves one still being written. One suffix for all.
PARTIAL = ".partial"


def partial_path(path: Path, stage: str = "") -> Path:
    """The temporary sibling a file is written to before it is moved into place: out.mp4 ->
    out.mp4.partial.mp4; `stage` names another temporary file of the same output (".video":
    out.mp4.video.partial.mp4). The real extension is repeated at the end so tools (ffmpeg, rerun) still
    recognise the format."""
    return path.with_name(f"{path.name}{stage}{PARTIAL}{path.suffix}")


def move_into_place(partial: Path, path: Path) -> None:
    """The finished `partial` file under its name, atomically (a reader sees the old file or the new one)."""
    os.replace(partial, path)


def publish_partial_file(partial: Path | None, path: Path) -> bool:
    """Move the file a sink is still writing (`partial`) to its final name now (a first Ctrl-C), so that
    it is found even if the process ends before the sink closes. False when there is nothing to move
    (no partial file, or already moved) or the rename fails."""
    if partial is None or partial == path:
        return False
    try:
        move_into_place(partial, path)
    except OSError as e:
        logger.debug("could not publish %s as %s: %s", partial, path, e)
        return False
    return True


def atomic_write_bytes(path: Path, data: bytes | memoryview) -> None:
    """Write `data` to `path` through its partial_path and an atomic rename."""
    tmp = partial_path(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        move_into_place(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """atomic_write_bytes for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def remove_quietly(path: Path | None) -> None:
    if path is None:
        return
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:  # pragma: no cover - best effort cleanup
        pass
