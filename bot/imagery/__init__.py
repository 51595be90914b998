"""Pillow and numpy: contact sheets, maps, mosaics. Bytes in, bytes out; callers run these off the event loop."""
