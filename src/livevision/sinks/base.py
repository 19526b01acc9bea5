"""The shape every sink shares: `write(...)`, an idempotent `close()`, and use as a context manager."""

from __future__ import annotations

import logging
from types import TracebackType

logger = logging.getLogger(__name__)


class Sink:
    """Base class: subclasses implement `write(...)` and `_close()`; `close()` runs `_close()` once.

    Leaving a `with` block closes the sink, also on an exception or KeyboardInterrupt: what was
    written so far is finalized (a shorter, playable video; a results file ending on a complete
    line). If closing fails while another exception is already propagating, the close error is
    logged and the original exception propagates.
    """

    _closed: bool = False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Finish the output. Idempotent: later calls do nothing."""
        if self._closed:
            return
        self._closed = True
        self._close()

    def _close(self) -> None:  # pragma: no cover - overridden
        pass

    def __enter__(self):
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc_type is None:
            self.close()
            return False
        try:
            self.close()
        except Exception as close_error:
            logger.error("closing %s after %s failed too: %s", type(self).__name__, exc_type.__name__, close_error)
        return False
