"""Loupe's offline emulator of the providers' APIs, over real HTTP.

``start_emulator()`` runs it in a thread (tests); ``python -m webapp.emulator``
runs it in the foreground (``make run``). No Django here.
"""

from __future__ import annotations

from webapp.emulator.core import Timing
from webapp.emulator.server import EmulatorHandle, start_emulator

__all__ = ["EmulatorHandle", "Timing", "start_emulator"]
