"""Helpers for tests/test_trust.py: Discord answers lost after Discord kept the message, and small
loopback HTTP servers that redirect, record who reached them, or trickle a body in slowly."""

from __future__ import annotations

import asyncio
import json
import re

from aiohttp import web

from tests.discord_standin import DiscordStandIn, Rejection
from tests.loopback import LoopbackServer

MESSAGES = re.compile(r"^/channels/\d+/messages$")


class AcceptThenFail:
    """Discord stores the message, then its answer is lost (a 502 from the edge): the next `times`
    POSTs of a message are processed normally by the stand-in (stored, or deduplicated by nonce)
    and answered 502. discord.py tries a 502 five times, so times=5 makes one failed send."""

    def __init__(self, ds: DiscordStandIn, times: int = 5):
        self.ds = ds
        self.left = times
        self._route = ds._route

    def route(self, method, path, query, body, files):
        status, result = self._route(method, path, query, body, files)
        if method == "POST" and MESSAGES.match(path) and self.left > 0:
            self.left -= 1
            raise Rejection(502, 0, "502 Bad Gateway (the message was kept)")
        return status, result

    def install(self, monkeypatch) -> "AcceptThenFail":
        monkeypatch.setattr(self.ds, "_route", self.route)
        return self


class Recorder(LoopbackServer):
    """A host the bot must never reach: records every request, serves a feed page or a picture."""

    def __init__(self, page: dict | None = None, picture: bytes = b"\xff\xd8\xff\xe0evil"):
        self.requests: list[str] = []
        self.page = page or {"images": [], "per_page": "100", "total_results": 0}
        self.picture = picture

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/{tail:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        if request.path == "/rss/api/":
            return web.Response(body=json.dumps(self.page).encode(), content_type="application/json")
        return web.Response(body=self.picture, content_type="image/jpeg")


class Redirector(LoopbackServer):
    """An allowed host that answers every request with a 301 to `target` (same path and query)."""

    def __init__(self, target: str):
        self.target = target.rstrip("/")
        self.requests: list[str] = []

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/{tail:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        raise web.HTTPMovedPermanently(self.target + request.path_qs)


class Trickle(LoopbackServer):
    """Serves a valid feed page a few bytes at a time: every chunk well inside a read timeout, the
    whole body far slower than any sensible deadline."""

    def __init__(self, page: dict, seconds: float = 3.0, chunks: int = 12):
        self.body = json.dumps(page).encode()
        self.seconds, self.chunks = seconds, chunks
        self.requests: list[str] = []
        self.completed = 0

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/{tail:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = len(self.body)
        await resp.prepare(request)
        step = -(-len(self.body) // self.chunks)
        try:
            for i in range(0, len(self.body), step):
                await resp.write(self.body[i:i + step])
                await asyncio.sleep(self.seconds / self.chunks)
            await resp.write_eof()
            self.completed += 1
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp
