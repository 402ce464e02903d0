"""Source kinds by name, gathered through pluggy: the built-ins register through the same hook as plugins."""

from __future__ import annotations

import importlib
import inspect
from functools import lru_cache
from typing import Any

import pluggy

from brightline.errors import ValidationError
from brightline.hookspecs import PROJECT, BrightlineSpec, hookimpl

# Modules shipping a built-in source; a module not present (yet) in this install is skipped.
BUILTIN_MODULES = ("http_feed", "files", "peer", "ncmec", "stopncii", "threatexchange")


def _source_classes(module: Any) -> list[type[Any]]:
    """Classes defined in ``module`` that look like sources: a str ``kind`` and a ``from_config``."""
    found = []
    for _name, obj in inspect.getmembers(module, inspect.isclass):
        if obj.__module__ != module.__name__:
            continue
        if isinstance(getattr(obj, "kind", None), str) and callable(getattr(obj, "from_config", None)):
            found.append(obj)
    return found


class BuiltinSources:
    """The source kinds that ship with brightline, registered as an ordinary plugin."""

    @hookimpl
    def brightline_source_kinds(self) -> list[type[Any]]:
        """HTTPS feeds, files, other brightline instances and, where installed, NCMEC, StopNCII, ThreatExchange."""
        classes: list[type[Any]] = []
        for short in BUILTIN_MODULES:
            name = f"brightline.sources.{short}"
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name != name:  # the module exists but something it needs does not: a real error
                    raise
                continue
            classes.extend(_source_classes(module))
        return classes


def make_plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the built-in sources and, optionally, setuptools entry-point plugins."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(BrightlineSpec)
    pm.register(BuiltinSources(), name="builtin-sources")
    if load_entry_points:
        pm.load_setuptools_entrypoints(PROJECT)
    return pm


class SourceRegistry:
    """Kind name -> source class, refusing two classes under one name."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._kinds: dict[str, type[Any]] = {}
        for provided in pm.hook.brightline_source_kinds():
            for cls in provided:
                kind = str(cls.kind).strip().lower()
                if kind in self._kinds and self._kinds[kind] is not cls:
                    raise ValueError(f"two plugins register source kind {kind!r}")
                self._kinds[kind] = cls

    def get(self, kind: str) -> type[Any]:
        """The class of source kind ``kind``, or ValidationError naming the known kinds."""
        try:
            return self._kinds[kind.strip().lower()]
        except KeyError:
            raise ValidationError(f"unknown source kind {kind!r} (known: {', '.join(self.names())})") from None

    def names(self) -> list[str]:
        """Registered kind names, sorted."""
        return sorted(self._kinds)


@lru_cache(maxsize=1)
def default_registry() -> SourceRegistry:
    """The process-wide registry, built on first use (not at import)."""
    return SourceRegistry(make_plugin_manager())


def source_kind(kind: str) -> type[Any]:
    """Shortcut for default_registry().get(kind)."""
    return default_registry().get(kind)


def source_kinds() -> list[str]:
    """Every registered source kind."""
    return default_registry().names()
