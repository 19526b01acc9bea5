"""BENCHMARKS.md is written by several scripts: each owns a section between its own
`<!-- name:begin -->` / `<!-- name:end -->` lines (bench.py rewrites the page above the first one)."""

from __future__ import annotations

import re
from pathlib import Path


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def write_section(path: Path, name: str, section: str) -> None:
    """Put `section` (which starts and ends with markers(name)) in place of the old one, or at the end."""
    begin, end = markers(name)
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if begin in old:
        new = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: section, old, flags=re.S)
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(new, encoding="utf-8")
