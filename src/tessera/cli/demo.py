"""`tessera demo`: a guided tour of the CLI on images Tessera draws itself.

Steps: draw four "known" images and edited copies of some of them (resized and recompressed,
brightened with a caption, rotated), plus an unrelated image; create a bank; add the known images;
match the uploads plainly and with dihedral matching; export the bank. Each step runs the real
`tessera` command in a subprocess and shows it, so a new user sees exactly what to type.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance
from rich.console import Console
from rich.panel import Panel

from tessera.errors import TesseraError

console = Console(highlight=False)


def draw_scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A deterministic picture with structure at several scales (shapes over a gradient)."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack(
        [
            127 + 100 * np.sin(x / rng.uniform(40, 120) + rng.uniform(0, 6)),
            127 + 100 * np.cos(y / rng.uniform(40, 120) + rng.uniform(0, 6)),
            127 + 100 * np.sin((x + y) / rng.uniform(60, 160)),
        ],
        axis=-1,
    )
    img = Image.fromarray(base.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(14):
        x0, y0 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
        x1, y1 = x0 + int(rng.integers(30, w // 2)), y0 + int(rng.integers(30, h // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    return img


def make_media(workdir: Path) -> tuple[Path, Path]:
    """Draw the known images and the uploads to check; returns their two folders."""
    known, uploads = workdir / "known", workdir / "uploads"
    known.mkdir(parents=True, exist_ok=True)
    uploads.mkdir(parents=True, exist_ok=True)
    scenes = [draw_scene(seed) for seed in (11, 22, 33, 44)]
    for i, scene in enumerate(scenes, 1):
        scene.save(known / f"known-{i}.png")
    small = scenes[0].resize((320, 240), Image.Resampling.BILINEAR)
    small.save(uploads / "upload-a-resized-recompressed.jpg", quality=40)
    bright = ImageEnhance.Brightness(scenes[1]).enhance(1.25)
    ImageDraw.Draw(bright).text((20, 20), "shared again", fill=(255, 255, 255))
    bright.save(uploads / "upload-b-brighter-captioned.jpg", quality=85)
    scenes[2].transpose(Image.Transpose.ROTATE_90).save(uploads / "upload-c-rotated.png")
    draw_scene(999).save(uploads / "upload-d-unrelated.jpg", quality=85)
    return known, uploads


def _run(args: list[str], env: dict[str, str], explain: str) -> None:
    console.print(Panel(explain, style="cyan", width=min(console.width, 100)))
    console.print(f"[bold]$ tessera {' '.join(shlex.quote(a) for a in args)}[/]")
    cmd = [sys.executable, "-m", "tessera", *args]
    proc = subprocess.run(cmd, env=env, check=False, capture_output=True, text=True)
    # The command's own output, as it printed it (it was laid out for COLUMNS already).
    sys.stdout.write(proc.stdout)
    sys.stdout.flush()
    if proc.stderr:
        console.print(proc.stderr.rstrip(), markup=False, style="red", soft_wrap=True)
    if proc.returncode not in (0,):
        raise TesseraError(f"demo step failed: tessera {' '.join(args)} ({proc.returncode})")
    console.print()


def run_demo(workdir: Path) -> None:
    """Run the guided tour in ``workdir`` (its database is made afresh each time)."""
    workdir.mkdir(parents=True, exist_ok=True)
    db_file = workdir / "tessera.db"
    for stale in (db_file, workdir / "tessera.db-wal", workdir / "tessera.db-shm"):
        stale.unlink(missing_ok=True)
    known, uploads = make_media(workdir)
    env = dict(os.environ, TESSERA_DATABASE_URL=f"sqlite:///{db_file.resolve()}")
    env["COLUMNS"] = str(max(console.width, 130))
    console.rule("[bold]Tessera demo")
    console.print(
        f"Drew 4 known images in {known}/ and 4 uploads in {uploads}/: a resized and\n"
        "recompressed copy, a brightened and captioned copy, a rotated copy, and an unrelated "
        "image.\n"
    )
    _run(
        ["bank", "create", "demo-propaganda", "--label", "demo", "--criterion", "drawn by demo"],
        env,
        "1. Create a bank: a named collection of known items, with labels and a criterion.",
    )
    _run(
        ["bank", "add", "demo-propaganda", str(known), "--label", "demo", "--note", "demo"],
        env,
        "2. Add the known images: each becomes an entry holding its PDQ, MD5 and SHA-256.",
    )
    _run(["bank", "list"], env, "3. The bank now holds four entries.")
    _run(
        ["match", str(uploads)],
        env,
        "4. Match the uploads: PDQ finds the edited copies (distance <= 31 of 256 bits); "
        "the rotated copy and the unrelated image do not match plainly.",
    )
    _run(
        ["match", str(uploads), "--dihedral"],
        env,
        "5. With --dihedral, rotated and flipped copies match too (8 orientations).",
    )
    export = workdir / "demo-propaganda.jsonl"
    _run(
        ["bank", "export", "demo-propaganda", str(export)],
        env,
        "6. Export the bank (jsonl; also csv, pytx, pytx-csv and hma) to share or back up.",
    )
    console.rule("[bold]Done")
    console.print(
        f"Try it yourself: TESSERA_DATABASE_URL=sqlite:///{db_file.resolve()} tessera bank show "
        "demo-propaganda\nSee README.md for the full manual."
    )
