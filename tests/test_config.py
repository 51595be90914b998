from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Config, ConfigError, load

EXAMPLE = Path(__file__).parent.parent / "config.example.toml"


def test_no_file_means_defaults():
    c = load(None)
    assert c.nasa_base_url == "https://mars.nasa.gov" and "@" in c.user_agent


def test_example_file_documents_every_default():
    c = load(EXAMPLE)
    assert c == Config()


@pytest.mark.parametrize("text, key", [
    ('[nasa]\nbase_url = "ftp://x"', "nasa.base_url"),
    ('[nasa]\nuser_agent = "roverbot"', "nasa.user_agent"),
    ('[nasa]\ntimeout_seconds = 0', "nasa.timeout_seconds"),
    ('[polling]\ninterval_minutes = "ten"', "polling.interval_minutes"),
    ('[polling]\ninterval_minutes = true', "polling.interval_minutes"),
    ('[news]\nfeeds = "https://x"', "news.feeds"),
    ('[news]\nfeeds = ["nope"]', "news.feeds[0]"),
    ('[storage]\ndatabase = ""', "storage.database"),
    ('[posting]\ndefault_timezone = "Mars/Jezero"', "posting.default_timezone"),
    ('[posting]\ndigest_time = "25:00"', "posting.digest_time"),
    ('[posting]\nmesages_per_hour = 3', "posting.mesages_per_hour"),
    ('[nasaa]\nbase_url = "https://x"', "[nasaa]"),
    ('nasa = 3', "nasa"),
])
def test_bad_values_stop_with_one_line_naming_the_key(tmp_path, text, key):
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load(p)
    assert key in str(e.value) and "\n" not in str(e.value)


def test_missing_file_and_broken_toml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "absent.toml")
    p = tmp_path / "bad.toml"
    p.write_text("[nasa\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(p)


def test_values_are_read(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[nasa]\nbase_url = "http://127.0.0.1:9/"\n[posting]\ndigest_time = "7:30"\n[discord]\ndev_guild_id = 123\n')
    c = load(p)
    assert c.nasa_base_url == "http://127.0.0.1:9" and c.digest_time == "07:30" and c.dev_guild_id == 123
