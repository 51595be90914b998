"""The only code that knows NASA's URLs and shapes: raw-image feeds, news, map layers."""
