"""What an operator relies on in the image and the CLI, checked without a Docker engine."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_dockerfile_is_slim_non_root_with_a_volume_and_a_healthcheck():
    assert re.search(r"^FROM python:3\.11-slim", DOCKERFILE, re.M)
    assert re.search(r"^USER roverbot$", DOCKERFILE, re.M) and "useradd" in DOCKERFILE
    assert 'VOLUME ["/data"]' in DOCKERFILE and "WORKDIR /data" in DOCKERFILE
    assert re.search(r"^HEALTHCHECK .*roverbot.*status.*--check", DOCKERFILE, re.M)
    assert 'CMD ["run"]' in DOCKERFILE


def test_image_and_ci_install_the_same_way():
    assert "RUN sh docker/install.sh /opt/roverbot /src" in DOCKERFILE
    assert "sh docker/install.sh" in (ROOT / ".ci" / "run").read_text()
    for path in re.findall(r"^COPY (?!--from)(.+?) \./", DOCKERFILE, re.M):
        for part in path.split():
            assert (ROOT / part).exists(), part


def test_healthcheck_fails_without_a_recent_check_in(tmp_path):
    run = lambda: subprocess.run([sys.executable, "-m", "bot", "status", "--check"], capture_output=True, text=True,  # noqa: E731
                                 cwd=tmp_path)
    r = run()
    assert r.returncode == 1 and "unhealthy: no database" in r.stderr
    from datetime import datetime, timezone

    from bot.mars import cameras
    from bot.store import Store

    store = Store.open(tmp_path / "roverbot.sqlite3")
    store.state.put("heartbeat", str(datetime.now(timezone.utc).timestamp() - 3600))
    r = run()
    assert r.returncode == 1 and re.search(r"last checked in 36\d\d s ago", r.stderr)  # a busy machine adds a second
    store.state.put("heartbeat", str(datetime.now(timezone.utc).timestamp()))
    store.close()
    r = run()
    assert r.returncode == 0 and r.stdout.startswith("healthy")


def test_json_logs_are_one_object_per_line(tmp_path):
    import json

    r = subprocess.run([sys.executable, "-m", "bot", "--log-format", "json", "--log-level", "info", "preview", "/sol 3 navkam"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2
    for line in r.stderr.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            assert {"time", "level", "component", "message"} <= set(entry)
