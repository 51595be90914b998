"""Named points where the fault-injection tests kill the process (SIGKILL, no clean-up at all).

`ROVERBOT_CRASHPOINT=send:images roverbot run` dies right after Discord accepted the first image post
and before the store recorded it. Without the variable every call is a no-op. This exists so that
"a kill at any step loses nothing and doubles nothing" is tested on the real process, not assumed.
"""

from __future__ import annotations

import os
import signal


def reached(name: str) -> None:
    if os.environ.get("ROVERBOT_CRASHPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
