"""The README is the manual: every setting and every CLI command and option must appear in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer.main

from tessera.cli.main import app
from tessera.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_documented_with_its_variable_and_description() -> None:
    for name, field in Settings.model_fields.items():
        assert f"`{name}`" in README, f"setting {name} missing from README"
        assert f"`TESSERA_{name.upper()}`" in README, f"TESSERA_{name.upper()} missing"
        assert field.description, f"setting {name} has no description"


def _commands(group: Any, prefix: str) -> list[tuple[str, Any]]:
    """Every (command path, command) under a group (Typer's vendored Click objects)."""
    found: list[tuple[str, Any]] = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        found.append((path, command))
        if hasattr(command, "commands"):
            found += _commands(command, path)
    return found


def test_every_cli_command_and_option_is_documented() -> None:
    root = typer.main.get_command(app)
    commands = _commands(root, "tessera")
    assert len(commands) > 10
    for path, command in commands:
        if hasattr(command, "commands"):
            continue
        words = path.split()
        assert any(
            line.lstrip().startswith(path) or (words[-1] in line and words[-2] in line)
            for line in README.splitlines()
        ), f"{path} missing from README"
        for param in command.params:
            if param.param_type_name == "option":
                for opt in param.opts:
                    if opt.startswith("--"):
                        assert opt in README, f"{path} {opt} missing from README"
