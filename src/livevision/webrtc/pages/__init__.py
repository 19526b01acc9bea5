"""The WebRTC pages: NAME.html with common.js and NAME.js inlined (one request per page) and the server's
configuration given to the script as the constant CONFIG."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def _text(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def page(name: str, config: dict) -> str:
    # "</" would end the script element early: JSON allows "<\/" for it
    config_js = json.dumps(config).replace("</", "<\\/")
    script = f"const CONFIG = {config_js};\n{_text('common.js')}\n{_text(name + '.js')}"
    return _text(name + ".html").replace("<!--SCRIPT-->", f"<script>\n{script}\n</script>")
