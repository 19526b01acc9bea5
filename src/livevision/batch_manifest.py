"""`livevision batch`'s record: DIR/manifest.jsonl, a line per file and attempt, and the Outcome it records."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .batch_sources import is_url, remote

MANIFEST = "manifest.jsonl"


@dataclass(frozen=True)
class Outcome:
    source: str
    status: str  # ok, failed, skipped
    frames: int = 0
    seconds: float = 0.0
    error: str | None = None
    worker: str | None = None  # host:pid:thread of the worker that ran it (which Ray node, which thread)

    @property
    def fps(self) -> float:
        return round(self.frames / self.seconds, 2) if self.seconds > 0 else 0.0


class Manifest:
    """DIR/manifest.jsonl: one line per file and attempt, appended as files finish (an fsspec URL
    folder, where objects cannot be appended to, gets the whole manifest written again)."""

    def __init__(self, output_dir: str):
        self.output_dir = output_dir
        self._text = self._read_text()
        self.lines: list[dict] = []
        for line in self._text.splitlines():
            try:
                self.lines.append(json.loads(line))
            except ValueError:  # a line cut short by a crash: ignored
                continue

    def _read_text(self) -> str:
        if is_url(self.output_dir):
            fs, path = remote(self.output_dir, MANIFEST)
            return fs.cat_file(path).decode() if fs.exists(path) else ""
        path = Path(self.output_dir) / MANIFEST
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def done_with(self, key: str) -> set[str]:
        """Sources whose latest line says ok (or skipped) with this key."""
        latest = {}
        for line in self.lines:
            latest[line["source"]] = line
        return {s for s, line in latest.items() if line["status"] in ("ok", "skipped") and line.get("key") == key}

    def exists(self) -> bool:
        if is_url(self.output_dir):
            fs, path = remote(self.output_dir, MANIFEST)
            return bool(fs.exists(path))
        return (Path(self.output_dir) / MANIFEST).exists()

    def add(self, outcome: Outcome, key: str) -> None:
        line = {"source": outcome.source, "status": outcome.status, "frames": outcome.frames, "fps": outcome.fps,
                "seconds": outcome.seconds, "error": outcome.error, "worker": outcome.worker, "key": key}
        self.lines.append(line)
        # after a line cut short by a crash, start on a line of its own
        text = ("\n" if self._text and not self._text.endswith("\n") else "") + json.dumps(line) + "\n"
        self._text += text
        if is_url(self.output_dir):
            fs, path = remote(self.output_dir, MANIFEST)
            fs.pipe_file(path, self._text.encode())
            return
        path = Path(self.output_dir) / MANIFEST
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
