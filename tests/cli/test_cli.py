"""The `tessera` command as a new user runs it: real processes, a real SQLite file, real images."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance

from tessera.cli.demo import draw_scene


def tessera(*args: str, db: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real command in a subprocess against the SQLite file ``db``."""
    env = dict(os.environ, TESSERA_DATABASE_URL=f"sqlite:///{db}", COLUMNS="200")
    proc = subprocess.run(
        [sys.executable, "-m", "tessera", *args], env=env, capture_output=True, text=True
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def media(tmp_path: Path) -> dict[str, Path]:
    """Two known images, edited copies of the first, a rotated copy, and an unrelated image."""
    d = tmp_path / "media"
    (d / "known").mkdir(parents=True)
    (d / "check").mkdir()
    a, b = draw_scene(1), draw_scene(2)
    a.save(d / "known" / "a.png")
    b.save(d / "known" / "b.png")
    a.resize((320, 240)).save(d / "check" / "a-small.jpg", quality=50)
    ImageEnhance.Contrast(a).enhance(1.3).save(d / "check" / "a-contrast.jpg", quality=90)
    a.transpose(Image.Transpose.ROTATE_270).save(d / "check" / "a-rotated.png")
    draw_scene(3).save(d / "check" / "other.jpg")
    return {"known": d / "known", "check": d / "check", "root": d}


def test_hash_prints_one_json_object_per_file(media: dict[str, Path], tmp_path: Path) -> None:
    proc = tessera("hash", str(media["known"]), db=tmp_path / "t.db")
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [Path(x["path"]).name for x in lines] == ["a.png", "b.png"]
    for line in lines:
        assert line["media_kind"] == "image"
        types = {s["type"]: s for s in line["signals"]}
        assert {"pdq", "md5", "sha256", "pdq_orb"} <= set(types)
        assert 0 <= types["pdq"]["quality"] <= 100 and len(types["pdq"]["value"]) == 64


def test_bad_files_give_one_line_each_and_exit_1(tmp_path: Path) -> None:
    d = tmp_path / "bad"
    d.mkdir()
    (d / "empty.jpg").write_bytes(b"")
    (d / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(2000))
    draw_scene(5).save(d / "good.png")
    (d / "notes.txt").write_text("not an image, still hashable as a file")
    proc = tessera("hash", str(d), db=tmp_path / "t.db", check=False)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert any("corrupt.jpg" in e for e in errors) and any("empty.jpg" in e for e in errors)
    assert len(errors) == 3  # two files and the summary line
    results = {Path(x["path"]).name: x for x in map(json.loads, proc.stdout.splitlines())}
    assert "error" not in results["good.png"] and "error" not in results["notes.txt"]
    assert results["notes.txt"]["media_kind"] == "file"
    assert {s["type"] for s in results["notes.txt"]["signals"]} == {"md5", "sha256"}


def test_bank_flow_match_dihedral_export_import(media: dict[str, Path], tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    tessera("bank", "create", "known", "--label", "test", "--criterion", "c", db=db)
    added = tessera("bank", "add", "known", str(media["known"]), "--label", "x", db=db)
    assert "2 added, 0 already present" in added.stdout
    again = tessera("bank", "add", "known", str(media["known"] / "a.png"), db=db)
    assert "0 added, 1 already present" in again.stdout
    assert "known" in tessera("bank", "list", db=db).stdout

    proc = tessera("match", str(media["check"]), "--json", db=db)
    found = {Path(x["path"]).name: x["matches"] for x in map(json.loads, proc.stdout.splitlines())}
    assert {m["bank"] for m in found["a-small.jpg"]} == {"known"}
    pdq = {name: [m for m in ms if m["signal_type"] == "pdq"] for name, ms in found.items()}
    assert pdq["a-small.jpg"] and all(m["distance"] <= 31 for m in pdq["a-small.jpg"])
    assert pdq["a-contrast.jpg"] and not found["other.jpg"] and not pdq["a-rotated.png"]
    # pdq_orb, the crop- and rotation-tolerant type, finds the 90-degree turn that PDQ misses.
    assert {m["signal_type"] for m in found["a-rotated.png"]} == {"pdq_orb"}

    proc = tessera("match", str(media["check"] / "a-rotated.png"), "--dihedral", "--json", db=db)
    (line,) = map(json.loads, proc.stdout.splitlines())
    turned = [m for m in line["matches"] if m["signal_type"] == "pdq"]
    assert turned and all(m["transform"] for m in turned)

    signal = pdq["a-small.jpg"][0]["matched"]
    proc = tessera("match", "--signal", f"pdq:{signal.upper()}", "--json", db=db)
    assert json.loads(proc.stdout)["matches"][0]["distance"] == 0

    out = tmp_path / "known.jsonl"
    tessera("bank", "export", "known", str(out), db=db)
    assert len(out.read_text().splitlines()) == 2
    tessera("bank", "import", "copy", str(out), "--create", db=db)
    shown = tessera("bank", "show", "copy", db=db).stdout
    assert "entries: 2" in shown

    entry = found["a-small.jpg"][0]["entry"]
    tessera("bank", "remove", "known", entry[:8], db=db)
    proc = tessera("match", str(media["check"] / "a-small.jpg"), "--bank", "known", "--json", db=db)
    assert json.loads(proc.stdout)["matches"] == []


def test_malformed_signal_and_unknown_bank_are_clear_errors(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    proc = tessera("match", "--signal", "pdq:xyz", db=db, check=False)
    assert proc.returncode == 1 and "pdq" in proc.stderr and "64" in proc.stderr
    proc = tessera("match", "--signal", "nosuch:abc", db=db, check=False)
    assert proc.returncode == 1 and "unknown signal type" in proc.stderr
    proc = tessera("bank", "add", "nobank", "--signal", "md5:" + "0" * 32, db=db, check=False)
    assert proc.returncode == 1 and "no bank named 'nobank'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_interrupted_import_leaves_the_bank_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    tessera("bank", "create", "b", db=db)
    good = [f"pdq {i:064x}" for i in range(1, 800)]
    bad = tmp_path / "bank.txt"
    bad.write_text("\n".join([*good, "pdq not-a-hash", *good[:5]]) + "\n")
    proc = tessera("bank", "import", "b", str(bad), "--format", "pytx", db=db, check=False)
    assert proc.returncode == 1 and "line 800" in proc.stderr
    assert "entries: 0" in tessera("bank", "show", "b", db=db).stdout


def test_unreachable_database_is_one_clear_line() -> None:
    env = dict(os.environ, TESSERA_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")
    proc = subprocess.run(
        [sys.executable, "-m", "tessera", "bank", "list"], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: cannot open store") and "Traceback" not in proc.stderr


def test_flat_images_are_too_weak_to_bank_or_match(tmp_path: Path) -> None:
    """A flat image's PDQ (quality 0) would match every other flat image: it is not used."""
    db = tmp_path / "t.db"
    flat, other_flat = tmp_path / "flat.png", tmp_path / "flat2.png"
    Image.new("RGB", (300, 200), (120, 120, 120)).save(flat)
    Image.new("RGB", (300, 200), (40, 200, 40)).save(other_flat)
    tessera("bank", "create", "b", db=db)
    proc = tessera("bank", "add", "b", str(flat), db=db)
    assert "quality 0 is below min_quality 50" in proc.stderr
    added = json.loads(tessera("db", "changes", db=db).stdout.splitlines()[-1])["payload"]
    assert {s["type"] for s in added["signals"]} == {"md5", "sha256"}
    proc = tessera("match", str(other_flat), "--json", db=db)
    assert json.loads(proc.stdout)["matches"] == []
