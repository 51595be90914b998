"""The one exception the imagery package raises: the caller catches it and posts the plain pictures."""

from __future__ import annotations

import functools


class ProductError(Exception):
    """A panorama, anaglyph or movie could not be made (missing frames, bad camera model, undecodable
    image, over the memory cap). The message says which, in words fit for a log line."""


def one_error(what: str):
    """Decorator for the package's entry points: any failure leaves as ProductError (the cause kept
    for the log), so the caller needs one `except` to fall back to a plain post. A NaN from a
    degenerate camera model or an odd array shape is a failed product, not a crashed poll."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except ProductError:
                raise
            except (ValueError, ArithmeticError, IndexError, KeyError, TypeError, OSError, MemoryError) as e:
                raise ProductError(f"{what} failed: {type(e).__name__}: {e}") from e
        return inner
    return wrap
