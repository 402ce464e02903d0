"""Plugin hook specifications (pluggy). Built-in signal types register through them too."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from brightline.signals.base import SignalType

PROJECT = "brightline"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class BrightlineSpec:
    """Hooks a plugin may implement."""

    @hookspec
    def brightline_signal_types(self) -> list[type[SignalType]]:  # type: ignore[empty-body]
        """Return the signal types this plugin provides."""

    @hookspec
    def brightline_source_kinds(self) -> list[type[Any]]:  # type: ignore[empty-body]
        """Return hash-list source classes (each with a ``kind`` name and a ``from_config`` classmethod)."""
