"""The README documents every setting and every CLI command; a new one without docs fails here."""

from __future__ import annotations

from pathlib import Path

import typer.main

from brightline.cli import app
from brightline.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _command_paths(command: object, prefix: str) -> list[str]:
    subcommands = getattr(command, "commands", None)
    if isinstance(subcommands, dict):
        paths = []
        for name, sub in subcommands.items():
            paths.extend(_command_paths(sub, f"{prefix} {name}"))
        return paths
    return [prefix]


def test_every_setting_is_in_the_readme() -> None:
    missing = [
        f"BRIGHTLINE_{name.upper()}" for name in Settings.model_fields if f"BRIGHTLINE_{name.upper()}" not in README
    ]
    assert missing == []


def test_every_cli_command_is_in_the_readme() -> None:
    paths = _command_paths(typer.main.get_command(app), "brightline")
    assert len(paths) > 10
    missing = [p for p in paths if f"`{p}" not in README]
    assert missing == []


def test_readme_names_the_two_front_door_commands() -> None:
    assert "make demo" in README and "make test" in README
