"""An asyncio event loop on its own thread, for aiortc, driven from livevision's threads."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Coroutine

from ..threads import join_all


class LoopThread:
    """`run(coro, timeout)` runs a coroutine on the loop and returns its result in the calling thread;
    `soon(fn, *args)` schedules a call on it (thread-safe); `close()` cancels what still runs and ends it."""

    def __init__(self, name: str = "livevision-webrtc"):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def run(self, coro: Coroutine, timeout: float | None = None) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout:g} s") from None

    def soon(self, fn, *args) -> None:
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # closed: there is nothing left to call it on
            pass

    def close(self, timeout: float = 10.0) -> None:
        """Cancel every task left, stop the loop, join its thread (close the peer connections first)."""
        if not self._thread.is_alive():
            return

        async def finish() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.get_running_loop().shutdown_default_executor()  # its threads (encoders, closing)

        try:
            self.run(finish(), timeout)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            join_all([self._thread], "the WebRTC loop")
