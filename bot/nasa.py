"""The only module that knows NASA's URLs.

Every transport, HTTP and JSON failure leaves here as one NasaError with a readable message, after
transient ones (timeouts, connection errors, 5xx, 429) were retried with exponential backoff.
The feed is slow (12-15 s answers are normal), so timeouts are generous and set by the config.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable, Iterable, Sequence
from urllib.parse import urlsplit

import httpx

log = logging.getLogger("roverbot.nasa")

RAW_FEED_PATH = "/rss/api/"
PAGE_SIZE_MAX = 100  # NASA caps `num` at 100 without saying so


class NasaError(Exception):
    """NASA could not be read. `transient` says whether trying again later may help."""

    def __init__(self, message: str, *, status: int | None = None, transient: bool = True):
        super().__init__(message)
        self.status = status
        self.transient = transient


def make_http_client(user_agent: str, timeout_seconds: float) -> httpx.AsyncClient:
    """The HTTP client roverbot uses for NASA: its User-Agent, slow-API timeouts, redirects followed."""
    return httpx.AsyncClient(
        headers={"User-Agent": user_agent, "Accept": "application/json, */*;q=0.5"},
        timeout=httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)),
        follow_redirects=True,  # mars.jpl.nasa.gov -> mars.nasa.gov and http -> https happened before
        limits=httpx.Limits(max_connections=8, max_keepalive_connections=4),
    )


def raw_image_params(
    *,
    page: int = 0,
    num: int = PAGE_SIZE_MAX,
    order: str = "sol desc",
    instruments: Sequence[str] = (),
    sol_min: int | None = None,
    sol_max: int | None = None,
    full_only: bool = True,
) -> list[tuple[str, str]]:
    """Query parameters for the Mars 2020 list feed (nasa-data-sources.md §1.2)."""
    if not 1 <= num <= PAGE_SIZE_MAX:
        raise ValueError(f"num must be 1..{PAGE_SIZE_MAX}")
    if page < 0:
        raise ValueError("page is 0-based and cannot be negative")
    heli = any(code.startswith("HELI_") for code in instruments)
    params = [
        ("feed", "raw_images"),
        ("category", "mars2020,ingenuity" if heli else "mars2020"),
        ("feedtype", "json"),
        ("ver", "1.2"),
        ("num", str(num)),
        ("page", str(page)),
        ("order", order),  # a real space: httpx encodes it; a literal '+' would reach NASA as a plus
    ]
    if instruments:
        params.append(("search", "|".join(instruments)))  # '|' ORs codes; a comma matches nothing
    # condition_1 is reserved for the mission scope: ranges go in condition_2 and up.
    slot = 2
    if sol_min is not None:
        params.append((f"condition_{slot}", f"{sol_min}:sol:gte"))
        slot += 1
    if sol_max is not None:
        params.append((f"condition_{slot}", f"{sol_max}:sol:lte"))
    if full_only:
        params.append(("extended", "sample_type::full"))
    return params


class NasaClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        *,
        retries: int = 3,
        backoff_seconds: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep
        self.requests = 0  # for status and the benchmarks

    async def raw_images(self, **query: Any) -> Any:
        """One page of the Mars 2020 raw-image list, decoded (see raw_image_params)."""
        return await self.get_json(RAW_FEED_PATH, raw_image_params(**query), "the raw-image feed")

    async def latest(self) -> Any:
        """The `latest=true` summary: newest sol and counts."""
        params = [("feed", "raw_images"), ("category", "mars2020"), ("feedtype", "json"), ("latest", "true")]
        return await self.get_json(RAW_FEED_PATH, params, "the latest-images summary")

    async def image(self, url: str, *, allowed_hosts: Iterable[str], max_bytes: int) -> bytes:
        """Download one picture, only from an allowed host and never more than max_bytes."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        allowed = [h.lower() for h in allowed_hosts]
        if parts.scheme not in ("http", "https") or not any(
            parts.netloc.lower() == h or host == h or host.endswith("." + h) for h in allowed
        ):
            raise NasaError(f"refused to fetch an image from {parts.netloc or url!r}: not an allowed host", transient=False)
        self.requests += 1
        try:
            async with self.http.stream("GET", url) as resp:
                if resp.status_code >= 400:
                    raise NasaError(f"image {parts.path.rsplit('/', 1)[-1]} answered HTTP {resp.status_code}",
                                    status=resp.status_code, transient=resp.status_code >= 500)
                declared = resp.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise NasaError(f"image is {int(declared):,} bytes, over the {max_bytes:,} limit", transient=False)
                chunks, size = [], 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise NasaError(f"image is over the {max_bytes:,} byte limit", transient=False)
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TimeoutException:
            raise NasaError(f"image at {parts.netloc} did not arrive in time") from None
        except httpx.TransportError as e:
            raise NasaError(f"image at {parts.netloc} could not be fetched ({type(e).__name__})") from None

    async def get_json(self, path: str, params: Iterable[tuple[str, str]], what: str) -> Any:
        url = self.base_url + path
        params = list(params)
        attempt = 0
        while True:
            try:
                return await self._get_json_once(url, params, what)
            except NasaError as e:
                if not e.transient or attempt >= self.retries:
                    raise
                delay = min(30.0, self.backoff_seconds * 2**attempt)
                attempt += 1
                log.warning("NASA %s failed (%s); retry %d/%d in %.1f s", what, e, attempt, self.retries, delay)
                await self.sleep(delay)

    async def _get_json_once(self, url: str, params: list[tuple[str, str]], what: str) -> Any:
        self.requests += 1
        host = urlsplit(url).netloc
        try:
            resp = await self.http.get(url, params=params)
        except httpx.TimeoutException:
            raise NasaError(f"{what} at {host} did not answer in time") from None
        except httpx.TransportError as e:
            raise NasaError(f"{what} at {host} could not be reached ({type(e).__name__})") from None
        if resp.status_code == 429 or resp.status_code >= 500:
            raise NasaError(f"{what} answered HTTP {resp.status_code}", status=resp.status_code)
        if resp.status_code >= 400:
            raise NasaError(f"{what} answered HTTP {resp.status_code}", status=resp.status_code, transient=False)
        try:
            return json.loads(resp.content)  # tolerates the CRLFs NASA appends
        except (ValueError, UnicodeDecodeError):
            kind = resp.headers.get("content-type", "no content type").split(";")[0]
            # An HTML error page or a truncated body: often a passing hiccup, so worth a retry.
            raise NasaError(f"{what} answered with something that is not valid JSON ({kind}, {len(resp.content)} bytes)",
                            status=resp.status_code) from None
