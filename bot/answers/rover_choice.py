"""Which rover a command is about: the one named, else the server's choice (set with /rover), else
the product's default. Plain values in and out; the choice is kept in the state repository."""

from __future__ import annotations

from bot.mars import rovers
from bot.mars.rovers import Rover
from bot.store import State


class RoverChoice:
    def __init__(self, state: State, default: Rover = rovers.SERVER_DEFAULT):
        self.state = state
        self.default = default

    def chosen(self, guild_id: int | None, name: str | None) -> Rover:
        """The rover named (ValueError if unknown), else this server's choice, else the default."""
        if name:
            return rovers.find(name)
        saved = self.state.get(f"rover:{guild_id}") if guild_id else None
        return rovers.ROVERS[saved] if saved in rovers.ROVERS else self.default

    def choose(self, guild_id: int, rover: Rover) -> None:
        self.state.put(f"rover:{guild_id}", rover.key)
