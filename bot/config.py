"""TOML file -> a frozen, validated Config.

Every setting has a default (documented in config.example.toml), so roverbot runs with no file at
all. A bad or unknown value stops the start with one line naming the key: an operator should never
have to read a traceback to find a typo.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.models import Shards

DEFAULT_NEWS_FEEDS = (
    "https://www.nasa.gov/missions/mars-2020-perseverance/feed/",
    "https://www.nasa.gov/solar-system/planets/mars/feed/",
)
DEFAULT_IMAGE_HOSTS = ("mars.nasa.gov", "www.nasa.gov", "science.nasa.gov", "images-assets.nasa.gov")


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the key."""


@dataclass(frozen=True)
class Config:
    nasa_base_url: str = "https://mars.nasa.gov"
    user_agent: str = "roverbot/0.1 (Discord bot; contact: operator@example.org)"
    timeout_seconds: float = 45.0
    retries: int = 3
    poll_interval_minutes: int = 10
    news_feeds: tuple[str, ...] = DEFAULT_NEWS_FEEDS
    news_interval_minutes: int = 30
    image_hosts: tuple[str, ...] = DEFAULT_IMAGE_HOSTS
    max_image_bytes: int = 8_000_000
    database: Path = Path("roverbot.sqlite3")
    # PostgreSQL instead of the SQLite file (several processes, sharding): postgresql://user@host/db.
    # The password may come from PGPASSWORD or ~/.pgpass rather than the file.
    database_url: str = ""
    # Several processes on one database: how often each says it is alive (and delivers), and how
    # long a silent leader keeps the lease (then another takes over).
    beat_seconds: int = 30
    lease_seconds: int = 90
    dev_guild_id: int | None = None
    admin_channel_id: int | None = None
    # [discord] gateway shards: this process runs `shards` ("0-3,6") of `shard_count`; several
    # processes together cover 0..shard_count-1. "" with 0: as many as Discord recommends, all here.
    shards: str = ""
    shard_count: int = 0
    messages_per_hour: int = 6
    group_wait_minutes: int = 10
    default_timezone: str = "UTC"
    digest_time: str = "09:00"
    sends_per_second: float = 48.0
    retention_sent_days: int = 3  # the interest ranking looks back 3 days ("first in a while")
    retention_poll_days: int = 14
    retention_image_days: int = 30
    # [maps]: NASA's MMGIS rover map (/where, drives subscriptions). Layers, tiles and end-of-drive
    # mosaics are fetched only from maps_base_url's host and tile_hosts.
    maps_base_url: str = "https://mars.nasa.gov"
    tile_hosts: tuple[str, ...] = ("mars.nasa.gov",)
    tile_cache_dir: Path = Path("roverbot-tiles")
    tile_cache_max_mb: int = 200
    drives_interval_minutes: int = 30
    source: Path | None = field(default=None, compare=False)

    @property
    def storage(self) -> Path | str:
        """Where the store lives: the PostgreSQL URL when one is set, else the SQLite file."""
        return self.database_url or self.database

    @property
    def shard_plan(self) -> Shards | None:
        """The gateway shards this process runs when the settings fix them (validated by parse and
        check_shards); None: Discord decides how many, and this process runs them all."""
        return check_shards(self.shards, self.shard_count)


def _url(key: str, value: Any) -> str:
    text = _str(key, value)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{key} must be an http(s) URL, got {text!r}")
    return text


def _base_url(key: str, value: Any) -> str:
    return _url(key, value).rstrip("/")


def _str(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} must be a non-empty string")
    return value.strip()


def _int_range(lo: int, hi: int) -> Callable[[str, Any], int]:
    def check(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ConfigError(f"{key} must be a whole number from {lo} to {hi}, got {value!r}")
        return value
    return check


def _seconds(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1 <= value <= 600:
        raise ConfigError(f"{key} must be a number of seconds from 1 to 600, got {value!r}")
    return float(value)


def _url_list(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{key} must be a list of URLs")
    return tuple(_url(f"{key}[{i}]", v) for i, v in enumerate(value))


def _host_list(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{key} must be a non-empty list of host names")
    hosts = []
    for i, v in enumerate(value):
        host = _str(f"{key}[{i}]", v).lower()
        if not re.fullmatch(r"[a-z0-9.-]+(:\d+)?", host):
            raise ConfigError(f"{key}[{i}] must be a bare host name, got {v!r}")
        hosts.append(host)
    return tuple(hosts)


def _user_agent(key: str, value: Any) -> str:
    text = _str(key, value)
    # NASA asks feed clients to say who they are; a UA with no way to reach the operator is rude.
    if "@" not in text and "http" not in text:
        raise ConfigError(f"{key} must include a contact address (an e-mail or a URL)")
    return text


def _timezone(key: str, value: Any) -> str:
    text = _str(key, value)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{key} must be an IANA time zone such as 'Europe/Berlin', got {text!r}") from None
    return text


def _clock_time(key: str, value: Any) -> str:
    text = _str(key, value)
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise ConfigError(f"{key} must be a time of day as HH:MM, got {text!r}")
    return f"{int(m[1]):02d}:{m[2]}"


def _guild(key: str, value: Any) -> int | None:
    if value in (0, "", None):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key} must be a Discord guild id (a number), or 0 for global commands")
    return value


def _channel(key: str, value: Any) -> int | None:
    if value in (0, "", None):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key} must be a Discord channel id (a number), or 0 for each server's system channel")
    return value


def _rate(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.5 <= value <= 50:
        raise ConfigError(f"{key} must be a number of messages per second from 0.5 to 50 (Discord's global limit), got {value!r}")
    return float(value)


def _postgres_url(key: str, value: Any) -> str:
    text = _str(key, value)
    if text and not text.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"{key} must be a postgresql:// URL (leave it out for the embedded SQLite file)")
    return text


def _path(key: str, value: Any) -> Path:
    return Path(_str(key, value))


MAX_SHARDS = 100_000


def _shard_spec(key: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if not isinstance(value, str):
        raise ConfigError(f'{key} must be shard ids as text, such as "0-3,6" (or "" for every shard), got {value!r}')
    return value.strip()


def check_shards(spec: str, count: int, *, shards_key: str = "discord.shards",
                 count_key: str = "discord.shard_count") -> Shards | None:
    """The shards `spec` names of `count`, as one line naming the setting when they make no sense.
    None: no count, so Discord decides (and this process runs every shard)."""
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_SHARDS:
        raise ConfigError(f"{count_key} must be a whole number of shards from 0 (as many as Discord recommends) "
                          f"to {MAX_SHARDS}, got {count!r}")
    spec = spec.strip()
    if not count:
        if spec:
            raise ConfigError(f"{shards_key} {spec!r} needs {count_key}: shard ids only mean something out of a total "
                              f"(e.g. shards 0-3 of 16); give the count, the same in every process")
        return None
    if not spec:
        return Shards(tuple(range(count)), count)
    try:
        return Shards.parse(spec, count)
    except ValueError as e:
        raise ConfigError(f"{shards_key} {spec!r}: {e}") from None


# section -> key -> (Config field, validator)
_SCHEMA: dict[str, dict[str, tuple[str, Callable[[str, Any], Any]]]] = {
    "nasa": {
        "base_url": ("nasa_base_url", _base_url),
        "user_agent": ("user_agent", _user_agent),
        "timeout_seconds": ("timeout_seconds", _seconds),
        "retries": ("retries", _int_range(0, 10)),
        "image_hosts": ("image_hosts", _host_list),
        "max_image_bytes": ("max_image_bytes", _int_range(10_000, 100_000_000)),
    },
    "polling": {"interval_minutes": ("poll_interval_minutes", _int_range(1, 1440))},
    "news": {"feeds": ("news_feeds", _url_list), "interval_minutes": ("news_interval_minutes", _int_range(5, 1440))},
    "storage": {
        "database": ("database", _path),
        "url": ("database_url", _postgres_url),
        "keep_sent_days": ("retention_sent_days", _int_range(1, 3650)),
        "keep_poll_days": ("retention_poll_days", _int_range(1, 3650)),
        "keep_image_days": ("retention_image_days", _int_range(1, 3650)),
    },
    "discord": {"dev_guild_id": ("dev_guild_id", _guild), "admin_channel_id": ("admin_channel_id", _channel),
                "shards": ("shards", _shard_spec), "shard_count": ("shard_count", _int_range(0, MAX_SHARDS))},
    "cluster": {"beat_seconds": ("beat_seconds", _int_range(1, 300)), "lease_seconds": ("lease_seconds", _int_range(3, 3600))},
    "maps": {
        "base_url": ("maps_base_url", _base_url),
        "tile_hosts": ("tile_hosts", _host_list),
        "tile_cache_dir": ("tile_cache_dir", _path),
        "tile_cache_max_mb": ("tile_cache_max_mb", _int_range(1, 100_000)),
        "drives_interval_minutes": ("drives_interval_minutes", _int_range(5, 1440)),
    },
    "posting": {
        "messages_per_hour": ("messages_per_hour", _int_range(1, 60)),
        "group_wait_minutes": ("group_wait_minutes", _int_range(0, 120)),
        "default_timezone": ("default_timezone", _timezone),
        "digest_time": ("digest_time", _clock_time),
        "sends_per_second": ("sends_per_second", _rate),
    },
}


def _name(key: str) -> str:
    # A key is echoed in a one-line error: anything odd in it is shown quoted and escaped.
    return key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() else repr(key)


def parse(data: dict[str, Any], source: Path | None = None) -> Config:
    """Validate a TOML document (already decoded) into a Config."""
    values: dict[str, Any] = {}
    for section, body in data.items():
        if section not in _SCHEMA:
            raise ConfigError(f"unknown section [{_name(section)}] (known: {', '.join(_SCHEMA)})")
        if not isinstance(body, dict):
            raise ConfigError(f"{section} must be a table: [{section}]")
        for key, value in body.items():
            if key not in _SCHEMA[section]:
                raise ConfigError(f"unknown key {section}.{_name(key)} (known: {', '.join(_SCHEMA[section])})")
            name, check = _SCHEMA[section][key]
            values[name] = check(f"{section}.{key}", value)
    beat, lease = values.get("beat_seconds", Config.beat_seconds), values.get("lease_seconds", Config.lease_seconds)
    if lease < 2 * beat:
        raise ConfigError(f"cluster.lease_seconds ({lease}) must be at least twice cluster.beat_seconds ({beat}): "
                          "a leader renews its lease every beat, and one late beat must not cost it")
    check_shards(values.get("shards", Config.shards), values.get("shard_count", Config.shard_count))
    return Config(**values, source=source)


def load(path: Path | None) -> Config:
    """Read and validate the config file; None means all defaults."""
    if path is None:
        return Config()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from None
    return parse(data, source=path)
