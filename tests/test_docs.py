"""The README is the manual: every setting and every CLI command and option must appear in it."""

from __future__ import annotations

from pathlib import Path

import click
import typer.main

from tessera.cli.main import app
from tessera.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_documented_with_its_variable_and_description() -> None:
    for name, field in Settings.model_fields.items():
        assert f"`{name}`" in README, f"setting {name} missing from README"
        assert f"`TESSERA_{name.upper()}`" in README, f"TESSERA_{name.upper()} missing"
        assert field.description, f"setting {name} has no description"


def _commands(group: click.Group, prefix: str) -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found += _commands(command, path)
    return found


def test_every_cli_command_and_option_is_documented() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, click.Group)
    for path, command in _commands(root, "tessera"):
        if isinstance(command, click.Group):
            continue
        words = path.split()
        assert any(
            line.lstrip().startswith(path) or (words[-1] in line and words[-2] in line)
            for line in README.splitlines()
        ), f"{path} missing from README"
        for param in command.params:
            if isinstance(param, click.Option):
                for opt in param.opts:
                    if opt.startswith("--"):
                        assert opt in README, f"{path} {opt} missing from README"
