"""roverbot: NASA's Mars rovers in a Discord server."""

__version__ = "0.1.0"
