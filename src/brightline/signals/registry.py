"""Signal types by name, gathered through pluggy (built-ins and installed plugins alike)."""

from __future__ import annotations

from functools import lru_cache

import pluggy

from brightline.errors import UnknownSignalTypeError
from brightline.hookspecs import PROJECT, BrightlineSpec, hookimpl
from brightline.signals.base import SignalType
from brightline.signals.cryptographic import Md5Signal, Sha256Signal
from brightline.signals.pdq import PdqSignal
from brightline.signals.regions_signal import PdqRegionsSignal
from brightline.signals.vpdq_regions_signal import VpdqRegionsSignal
from brightline.signals.vpdq_signal import VpdqSignal


class BuiltinSignals:
    """The signal types that ship with brightline, registered as an ordinary plugin."""

    @hookimpl
    def brightline_signal_types(self) -> list[type[SignalType]]:
        """PDQ, MD5, SHA-256, vPDQ and brightline's region hashes for images and video frames."""
        return [PdqSignal, Md5Signal, Sha256Signal, VpdqSignal, PdqRegionsSignal, VpdqRegionsSignal]


def make_plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the built-ins and, optionally, setuptools entry-point plugins."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(BrightlineSpec)
    pm.register(BuiltinSignals(), name="builtin-signals")
    if load_entry_points:
        pm.load_setuptools_entrypoints(PROJECT)
    return pm


class SignalRegistry:
    """Name -> signal type, refusing duplicate names."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._types: dict[str, type[SignalType]] = {}
        for provided in pm.hook.brightline_signal_types():
            for signal_type in provided:
                if signal_type.name in self._types and self._types[signal_type.name] is not signal_type:
                    raise ValueError(f"two plugins register signal type {signal_type.name!r}")
                self._types[signal_type.name] = signal_type

    def get(self, name: str) -> type[SignalType]:
        """The signal type called ``name`` or UnknownSignalTypeError."""
        try:
            return self._types[name.strip().lower()]
        except KeyError:
            known = ", ".join(sorted(self._types))
            raise UnknownSignalTypeError(f"unknown signal type {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._types)

    def all(self) -> list[type[SignalType]]:
        """Registered signal types, sorted by name."""
        return [self._types[n] for n in self.names()]


@lru_cache(maxsize=1)
def default_registry() -> SignalRegistry:
    """The process-wide registry, built on first use (not at import)."""
    return SignalRegistry(make_plugin_manager())


def get_signal_type(name: str) -> type[SignalType]:
    """Shortcut for default_registry().get(name)."""
    return default_registry().get(name)
