"""Runs an aiohttp application on 127.0.0.1 in a thread of its own, for the stand-ins.

A thread and loop of its own means synchronous tests, asyncio tests (in their own loop) and
subprocesses can all talk to it over real sockets.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Awaitable

from aiohttp import web


class LoopbackServer:
    url: str = ""

    def _routes(self, app: web.Application) -> None:
        raise NotImplementedError  # each stand-in declares its own routes

    async def _before_cleanup(self) -> None:
        """Hook: close what the server holds open (e.g. websockets) before it shuts down."""

    def start(self, name: str = "standin", max_body: int = 64 * 1024 * 1024):
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            app = web.Application(client_max_size=max_body)
            self._routes(app)
            runner = web.AppRunner(app, access_log=None)
            self._loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._before_cleanup())
            self._loop.run_until_complete(runner.cleanup())

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def call(self, coro: Awaitable) -> object:
        """Run a coroutine on the server's loop from any thread and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    async def acall(self, coro: Awaitable) -> object:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))  # type: ignore[arg-type]

