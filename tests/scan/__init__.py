"""Tests of bulk scanning and retro-hunt; helpers to draw a folder to scan and run the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from PIL import Image

from tessera.cli.demo import draw_scene
from tessera.services.hashing import hash_path
from tessera.settings import Settings
from tessera.signals.base import Signal

SIZE = (160, 120)


def make_folder(root: Path, images: int, *, broken: bool = True) -> Path:
    """Draw ``images`` JPEGs (seeds 0..n-1) under ``root`` (some in a subfolder), plus an empty
    and a corrupt file when ``broken``; returns ``root``."""
    (root / "sub").mkdir(parents=True, exist_ok=True)
    for i in range(images):
        folder = root / "sub" if i % 3 == 2 else root
        draw_scene(i, SIZE).save(folder / f"img{i:03d}.jpg", quality=90)
    if broken:
        (root / "empty.jpg").write_bytes(b"")
        (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4)
    return root


def edited_signals(seed: int, tmp: Path) -> tuple[Signal, ...]:
    """The signals of a resized copy of scene ``seed`` (a near, not exact, copy)."""
    image: Image.Image = draw_scene(seed, SIZE).resize((150, 112))
    path = tmp / f"edited-{seed}.png"
    image.save(path)
    result = hash_path(path, Settings().media_limits())
    return tuple(s for s in result.signals if s.type == "pdq")


CLI = [sys.executable, "-c", "from tests.scan import cli_app; cli_app()()"]
"""`tessera` with the scan commands, as a subprocess (run from the project root)."""


def cli_url(database_url: tuple[str, str | None]) -> str:
    """The store URL for a subprocess (a PostgreSQL schema rides in the connection options)."""
    url, schema = database_url
    return f"{url}?options=-csearch_path%3D{schema}" if schema else url


def cli_app() -> typer.Typer:
    """The `tessera` app (imported in the subprocess)."""
    from tessera.cli import main

    return main.app
