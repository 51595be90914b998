"""`roverbot` as an operator runs it: a real subprocess, a real config file, the NASA stand-in."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.nasa_standin import Fault, make_record

AT = "2026-10-01T12:00:00Z"


def _config(tmp_path: Path, url: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(f'[maps]\nbase_url = "{url}"\ntile_hosts = ["127.0.0.1"]\n[nasa]\nbase_url = "{url}"\nretries = 0\ntimeout_seconds = 5\n[storage]\ndatabase = "{tmp_path / "db.sqlite3"}"\n')
    return p


def roverbot(tmp_path, url, *args, timeout=60):
    return subprocess.run([sys.executable, "-m", "bot", "--config", str(_config(tmp_path, url)), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=tmp_path)


def test_preview_sol_camera_prints_the_gallery(tmp_path, nasa_standin):
    nasa_standin.records += [make_record(3, "NAVCAM_LEFT", n=i) for i in range(3)]
    r = roverbot(tmp_path, nasa_standin.url, "preview", "/sol 3 navcam", "--at", AT)
    assert r.returncode == 0, r.stderr
    assert "Sol 3 · Navcam — 3 pictures" in r.stdout
    assert "[1] Mars Perseverance Sol 3: Left Navigation Camera (Navcam)" in r.stdout
    assert "13:00:00 LMST" in r.stdout and "full resolution: " in r.stdout and r.stderr == ""


def test_preview_json_is_the_discord_payload_and_out_writes_it(tmp_path, nasa_standin):
    out = tmp_path / "out"
    r = roverbot(tmp_path, nasa_standin.url, "preview", "/latest", "--json", "--out", str(out), "--at", AT)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert set(body) >= {"content", "embeds", "components", "attachments", "allowed_mentions"}
    assert len(body["embeds"]) == 5 and body["embeds"][0]["image"]["url"].endswith("_1200.jpg")
    assert all("thumbnail" not in e for e in body["embeds"])  # never the same frame twice
    assert body["components"][0]["components"][2]["custom_id"] == "rbg:mars2020:1994::1:n"  # /latest: newest first, kept across pages
    assert body["allowed_mentions"] == {"parse": [], "roles": []}
    assert json.loads((out / "message.json").read_text()) == body


def test_preview_now_at_an_instant(tmp_path, nasa_standin):
    r = roverbot(tmp_path, nasa_standin.url, "preview", "/now", "--at", "2021-02-21T12:00:00Z")
    assert r.returncode == 0 and "sol 3, 05:27:58 LMST" in r.stdout
    assert nasa_standin.requests == []


@pytest.mark.parametrize("command, says, code", [
    ("/sol 3 navkam", "I don't know a camera called `navkam`. Did you mean `navcam`", 2),
    ("/sol -1", "Sols count from 0", 2),
    ("/sol 99999", "Sol 99999 hasn't happened yet: it is sol 1996", 2),
    ("/sol three", "a sol is a whole number", 2),
    ("/sol 1000", "NASA has no images for sol 1000", 2),
    ("/teleport", "unknown command /teleport", 2),
])
def test_bad_input_gets_one_line_and_a_nonzero_exit(tmp_path, nasa_standin, command, says, code):
    r = roverbot(tmp_path, nasa_standin.url, "preview", command, "--at", AT)
    assert r.returncode == code
    assert r.stdout == "" and says in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_nasa_not_answering(tmp_path, nasa_standin):
    nasa_standin.faults.append(Fault(status=503))
    r = roverbot(tmp_path, nasa_standin.url, "preview", "/sol 1994", "--at", AT)
    assert r.returncode == 3 and r.stderr.strip() == "roverbot: NASA's raw-image feed isn't answering right now. Please try again in a few minutes."


def test_bad_config_names_the_key(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[polling]\ninterval_minutes = 0\n')
    r = subprocess.run([sys.executable, "-m", "bot", "--config", str(p), "preview", "/now"], capture_output=True, text=True)
    assert r.returncode == 1 and "polling.interval_minutes" in r.stderr and len(r.stderr.splitlines()) == 1


def test_poll_once(tmp_path, nasa_standin):
    r = roverbot(tmp_path, nasa_standin.url, "poll", "--once", "--json", "--at", AT)
    first = json.loads(r.stdout)
    assert r.returncode == 0 and first["baseline"] and first["posts"] == [] and first["records"] == 13
    nasa_standin.records += [make_record(1995, "MCZ_LEFT", n=i, sequence="ZCAM05000") for i in range(6)]
    r = roverbot(tmp_path, nasa_standin.url, "poll", "--once", "--at", AT)
    assert r.returncode == 0
    assert "6 new picture(s) in 1 post(s)" in r.stdout and "sol 1995, Mastcam-Z: 6 pictures" in r.stdout
    r = roverbot(tmp_path, nasa_standin.url, "poll", "--once", "--at", AT)
    assert "No new pictures" in r.stdout


def test_digest_for_a_date(tmp_path, nasa_standin):
    from tests.nasa_standin import serve_images

    recs = [make_record(1994, "MCZ_LEFT", n=i, sequence=f"ZCAM0{i:04d}", host=nasa_standin.url) for i in range(5)]
    serve_images(nasa_standin, recs)
    nasa_standin.records += recs
    cfg = _config(tmp_path, nasa_standin.url)
    text = cfg.read_text().replace("[nasa]\n", '[nasa]\nimage_hosts = ["127.0.0.1"]\n', 1)
    cfg.write_text(text + "[news]\nfeeds = []\n")
    out = tmp_path / "digest"
    r = subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), "digest", "--date", "2026-09-29", "--json",
                        "--out", str(out), "--at", AT], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert "sol 1994" in body["embeds"][0]["description"] or "sols 19" in body["embeds"][0]["description"]
    assert body["attachments"][0]["filename"] == "digest.jpg" and (out / "digest.jpg").stat().st_size > 1000
    assert body["embeds"][0]["image"]["url"] == "attachment://digest.jpg"


@pytest.mark.fault("NASA", "a failing source in `roverbot status`", "says which source fails, since when, and why")
def test_status_says_which_source_fails_since_when(tmp_path, nasa_standin):
    nasa_standin.faults.extend([Fault(status=503)] * 2)
    roverbot(tmp_path, nasa_standin.url, "poll", "--once", "--at", AT)
    roverbot(tmp_path, nasa_standin.url, "poll", "--once", "--at", AT)
    r = roverbot(tmp_path, nasa_standin.url, "status", "--json")
    report = json.loads(r.stdout)
    images = next(s for s in report["sources"] if s["source"] == "images")
    assert images["failing"] and images["failed_cycles"] == 2 and images["failing_since"] and "HTTP 503" in images["last_error"]
