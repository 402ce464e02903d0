"""Source kinds are found through the brightline_source_kinds hook, built-ins included."""

from __future__ import annotations

from typing import Any

import pytest
from sources_support import ScriptedSource, test_registry

from brightline.errors import ValidationError
from brightline.hookspecs import hookimpl
from brightline.sources.registry import SourceRegistry, make_plugin_manager, source_kind, source_kinds


def test_the_built_in_kinds_are_registered() -> None:
    assert {"file", "http_feed", "brightline"} <= set(source_kinds())
    assert source_kind("HTTP_FEED").kind == "http_feed"


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(ValidationError, match=r"known: .*file"):
        source_kind("gopher")


def test_a_plugin_adds_a_kind_and_may_not_take_a_taken_name() -> None:
    assert test_registry().get("scripted") is ScriptedSource

    class Clash:
        kind = "file"

        @classmethod
        def from_config(cls, config: Any, *, transport: Any = None) -> Any:
            return cls()

    class Plugin:
        @hookimpl
        def brightline_source_kinds(self) -> list[type[Any]]:
            return [Clash]

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(Plugin(), name="clash")
    with pytest.raises(ValueError, match="two plugins"):
        SourceRegistry(pm)
