"""Logging: one line per event, with level and component; JSON lines for log collectors."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "component": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        # One event, one line: a traceback is folded onto the line it belongs to.
        return super().format(record).replace("\n", " | ")


class Redact(logging.Filter):
    """Belt and braces: whatever a library logs, a secret never reaches the output."""

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "[redacted]"), None
        if record.exc_info and record.exc_info[1] is not None and self.secret in str(record.exc_info[1]):
            record.exc_info = None
            record.msg = f"{record.msg} (details redacted: they contained a secret)"
        return True


def redact(secret: str) -> None:
    if len(secret) < 8:
        return
    for handler in logging.getLogger().handlers:
        handler.addFilter(Redact(secret))


def setup(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request at INFO; that is noise at a poll every few minutes.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # "Running job …" / "executed successfully" for every run of every job (the beat and, in a
    # cluster, the pump run every few seconds): a cycle's own lines say what it did; failures stay.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
