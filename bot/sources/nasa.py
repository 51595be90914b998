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

    def __init__(self, message: str, *, status: int | None = None, transient: bool = True,
                 retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.transient = transient
        self.retry_after = retry_after


MAX_FEED_BYTES = 20_000_000  # a page of 100 records is ~250 KB; anything near this is not a feed page


class HostNotAllowed(Exception):
    """A request (or a redirect hop) went to a host the operator did not allow."""


def host_allowed(url: httpx.URL | str, hosts: Iterable[str]) -> bool:
    parts = urlsplit(str(url))
    host = (parts.hostname or "").lower()
    netloc = parts.netloc.lower()
    return parts.scheme in ("http", "https") and any(netloc == h or host == h or host.endswith("." + h) for h in hosts)


def make_http_client(user_agent: str, timeout_seconds: float, hosts: Iterable[str] | None = None) -> httpx.AsyncClient:
    """The HTTP client roverbot uses for NASA: its User-Agent, slow-API timeouts, redirects followed
    — but every hop, redirects included, only to `hosts` (when given)."""
    allowed = tuple(h.lower() for h in hosts) if hosts is not None else None

    async def check_host(request: httpx.Request) -> None:
        # httpx runs request hooks for each hop of a redirect chain, so a 301 can't lead elsewhere.
        if allowed is not None and not host_allowed(request.url, allowed):
            raise HostNotAllowed(f"refused to follow {request.url.scheme}://{request.url.host}: not an allowed host")

    return httpx.AsyncClient(
        headers={"User-Agent": user_agent, "Accept": "application/json, */*;q=0.5"},
        timeout=httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)),
        follow_redirects=True,  # mars.jpl.nasa.gov -> mars.nasa.gov and http -> https happened before
        limits=httpx.Limits(max_connections=8, max_keepalive_connections=4),
        event_hooks={"request": [check_host]},
    )


async def read_capped(http: httpx.AsyncClient, url: str, *, params: Iterable[tuple[str, str]] | None = None,
                      headers: dict[str, str] | None = None, max_bytes: int, deadline: float) -> tuple[httpx.Response, bytes]:
    """GET a body, never more than max_bytes, and all of it within `deadline` seconds: the read
    timeout is per chunk, so a body that trickles in would otherwise never time out."""
    async with asyncio.timeout(deadline):
        async with http.stream("GET", url, params=list(params) if params is not None else None, headers=headers) as resp:
            declared = resp.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise BodyTooLarge(f"{int(declared):,} bytes, over the {max_bytes:,} limit")
            chunks, size = [], 0
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise BodyTooLarge(f"over the {max_bytes:,} byte limit")
                chunks.append(chunk)
            return resp, b"".join(chunks)


class BodyTooLarge(Exception):
    """A body (declared or streamed) over the caller's byte limit; the message says how big."""


def retry_after(resp: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date), if any."""
    value = resp.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        from email.utils import parsedate_to_datetime
        from datetime import datetime, timezone

        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


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
        budget_seconds: float | None = None,
        request_seconds: float = 120.0,
        max_retry_after: float = 300.0,
    ):
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep
        # budget: everything one call may take, retries included (a slash command's answer can't
        # wait minutes); request_seconds: one request's whole body, however slowly it trickles.
        self.budget_seconds = budget_seconds
        self.request_seconds = request_seconds
        self.max_retry_after = max_retry_after
        self.requests = 0  # for status and the benchmarks

    def with_budget(self, seconds: float, retries: int | None = None) -> "NasaClient":
        """The same client for callers who can wait only `seconds` in all (slash commands)."""
        return NasaClient(self.http, self.base_url, retries=self.retries if retries is None else retries,
                          backoff_seconds=self.backoff_seconds, sleep=self.sleep, budget_seconds=seconds,
                          request_seconds=min(self.request_seconds, seconds), max_retry_after=min(self.max_retry_after, seconds))

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
        if not host_allowed(url, [h.lower() for h in allowed_hosts]):
            raise NasaError(f"refused to fetch an image from {parts.netloc or url!r}: not an allowed host", transient=False)
        self.requests += 1
        try:
            resp, body = await read_capped(self.http, url, max_bytes=max_bytes, deadline=self.request_seconds)
        except (httpx.TimeoutException, TimeoutError):
            raise NasaError(f"image at {parts.netloc} did not arrive in time") from None
        except HostNotAllowed as e:
            raise NasaError(str(e), transient=False) from None
        except BodyTooLarge as e:
            raise NasaError(f"image is {e}", transient=False) from None
        except httpx.TransportError as e:
            raise NasaError(f"image at {parts.netloc} could not be fetched ({type(e).__name__})") from None
        if resp.status_code >= 400:
            raise NasaError(f"image {parts.path.rsplit('/', 1)[-1]} answered HTTP {resp.status_code}",
                            status=resp.status_code, transient=resp.status_code >= 500)
        return body

    async def get_json(self, path: str, params: Iterable[tuple[str, str]], what: str) -> Any:
        if self.budget_seconds is None:
            return await self._get_json(path, params, what)
        try:
            async with asyncio.timeout(self.budget_seconds):
                return await self._get_json(path, params, what)
        except TimeoutError:
            raise NasaError(f"{what} did not answer within {self.budget_seconds:.0f} s") from None

    async def _get_json(self, path: str, params: Iterable[tuple[str, str]], what: str) -> Any:
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
                if e.retry_after is not None:  # NASA said when: honour it (within reason)
                    delay = max(delay, min(e.retry_after, self.max_retry_after))
                attempt += 1
                log.warning("NASA %s failed (%s); retry %d/%d in %.1f s", what, e, attempt, self.retries, delay)
                await self.sleep(delay)

    async def _get_json_once(self, url: str, params: list[tuple[str, str]], what: str) -> Any:
        self.requests += 1
        host = urlsplit(url).netloc
        try:
            resp, body = await read_capped(self.http, url, params=params, max_bytes=MAX_FEED_BYTES,
                                           deadline=self.request_seconds)
        except (httpx.TimeoutException, TimeoutError):
            raise NasaError(f"{what} at {host} did not answer in time") from None
        except HostNotAllowed as e:
            raise NasaError(f"{what}: {e}", transient=False) from None
        except BodyTooLarge as e:
            raise NasaError(f"{what} sent too much ({e})", transient=False) from None
        except httpx.TransportError as e:
            raise NasaError(f"{what} at {host} could not be reached ({type(e).__name__})") from None
        if resp.status_code == 429 or resp.status_code >= 500:
            raise NasaError(f"{what} answered HTTP {resp.status_code}", status=resp.status_code,
                            retry_after=retry_after(resp))
        if resp.status_code >= 400:
            raise NasaError(f"{what} answered HTTP {resp.status_code}", status=resp.status_code, transient=False)
        try:
            # Invalid UTF-8 in one caption is replaced, not allowed to make the whole page unreadable;
            # json tolerates the CRLFs NASA appends.
            return json.loads(body.decode("utf-8", errors="replace"))
        except RecursionError:
            raise NasaError(f"{what} answered with JSON nested too deeply to read ({len(body)} bytes)",
                            status=resp.status_code, transient=False) from None
        except ValueError:
            kind = resp.headers.get("content-type", "no content type").split(";")[0]
            # An HTML error page or a truncated body: often a passing hiccup, so worth a retry.
            raise NasaError(f"{what} answered with something that is not valid JSON ({kind}, {len(body)} bytes)",
                            status=resp.status_code) from None
