"""Mission news from NASA's RSS feeds, read with feedparser.

feedparser copes with what NASA's feeds really contain (a raw `&`, dates without seconds or with a
named zone, missing enclosures). Items are identified by guid, else by link, so an edited item is
recognised as the same item.
"""

from __future__ import annotations

import calendar
import html
import logging
import re
from datetime import datetime, timezone
from typing import Sequence

import feedparser
import httpx

from bot.models import NewsItem
from bot.sources.nasa import BodyTooLarge, HostNotAllowed, read_capped
from bot.sources.parse import LINK_HOSTS, clean, safe_url

log = logging.getLogger("roverbot.news")

MAX_FEED_BYTES = 5_000_000
_TAG = re.compile(r"<[^>]+>")
_IMG = re.compile(r"<img\b[^>]*?\bsrc=[\"']([^\"']+)[\"']", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


class NewsError(Exception):
    """A news feed could not be read; the message names the feed and the reason."""


def _plain(text: str) -> str:
    return clean(_SPACE.sub(" ", html.unescape(_TAG.sub(" ", text or ""))).strip())


def _first_image(entry: dict) -> str:
    for thumb in entry.get("media_thumbnail") or []:
        if thumb.get("url"):
            return thumb["url"]
    for content in entry.get("content") or []:
        m = _IMG.search(content.get("value") or "")
        if m:
            return html.unescape(m[1])
    for enc in entry.get("enclosures") or []:
        if (enc.get("type") or "").startswith("image/") and enc.get("href"):
            return enc["href"]
    m = _IMG.search(entry.get("summary") or "")
    return html.unescape(m[1]) if m else ""


def _published(entry: dict) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=timezone.utc)
    except (OverflowError, ValueError, OSError):
        return None


def parse_feed(data: bytes, feed_url: str) -> list[NewsItem]:
    """RSS/Atom bytes -> NewsItems; items without a title or an identity are skipped."""
    parsed = feedparser.parse(data)
    if parsed.bozo and not parsed.entries:
        raise NewsError(f"{feed_url} is not a readable feed ({type(parsed.get('bozo_exception')).__name__})")
    items = []
    for entry in parsed.entries:
        raw_link = (entry.get("link") or "").strip()
        link = safe_url(raw_link, LINK_HOSTS)  # a post links only to NASA's own pages
        key = clean((entry.get("id") or "").strip() or raw_link)[:500]
        title = _plain(entry.get("title") or "")
        if not key or not title:
            log.warning("skipped a news item without %s in %s", "a title" if key else "a guid or link", feed_url)
            continue
        items.append(NewsItem(key=key, feed=feed_url, title=title, link=link, summary=_plain(entry.get("summary") or ""),
                              image=safe_url(_first_image(entry), LINK_HOSTS), published=_published(entry)))
    return items


class NewsReader:
    def __init__(self, http: httpx.AsyncClient, feeds: Sequence[str], *, deadline_seconds: float = 120.0):
        self.http = http
        self.feeds = list(feeds)
        self.deadline_seconds = deadline_seconds

    async def read(self, feed_url: str) -> list[NewsItem]:
        try:
            resp, body = await read_capped(self.http, feed_url, max_bytes=MAX_FEED_BYTES, deadline=self.deadline_seconds,
                                           headers={"Accept": "application/rss+xml, application/xml;q=0.9, */*;q=0.5"})
        except (httpx.TimeoutException, TimeoutError):
            raise NewsError(f"{feed_url} did not answer in time") from None
        except HostNotAllowed as e:
            raise NewsError(f"{feed_url}: {e}") from None
        except BodyTooLarge:
            raise NewsError(f"{feed_url} sent more than {MAX_FEED_BYTES:,} bytes, more than a feed should be") from None
        except httpx.TransportError as e:
            raise NewsError(f"{feed_url} could not be reached ({type(e).__name__})") from None
        if resp.status_code >= 400:
            raise NewsError(f"{feed_url} answered HTTP {resp.status_code}")
        try:
            return parse_feed(body, feed_url)
        except NewsError:
            raise
        except Exception as e:  # feedparser on hostile XML: one failed read, never a stuck cycle
            raise NewsError(f"{feed_url} could not be parsed ({type(e).__name__})") from None
