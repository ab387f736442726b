"""The `tessera` command with audio: hash, bank add and match, as for images, with the offset."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import tessera

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "media"))
import audio_synth as synth  # noqa: E402

START = 17.0  # where the excerpt sits in the reference, in seconds


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A reference song (WAV), a pitched MP3 excerpt of it, unrelated AAC, all without suffixes."""
    d = tmp_path_factory.mktemp("audio")
    song = synth.music(40.0, seed=3)
    rate = synth.RATE
    excerpt = synth.pitch(1.0)(song[int(START * rate) : int((START + 10) * rate)])
    files = {
        "song": synth.encode(song),
        "clip": synth.encode(excerpt, codec="libmp3lame", bitrate=64_000),
        "other": synth.encode(synth.music(12.0, seed=9), codec="aac", bitrate=64_000),
        "broken": b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40),
    }
    for name, data in files.items():
        (d / name).write_bytes(data)
    return {name: d / name for name in files}


def test_hash_detects_audio_from_content(audio: dict[str, Path], tmp_path: Path) -> None:
    proc = tessera("hash", str(audio["song"]), db=tmp_path / "t.db")
    (line,) = map(json.loads, proc.stdout.splitlines())
    assert line["media_kind"] == "audio"
    types = {s["type"]: s["value"] for s in line["signals"]}
    assert set(types) == {"md5", "sha256", "tessera_audio"}
    assert types["tessera_audio"].startswith("2:10:")


def test_bank_add_and_match_report_the_offset(audio: dict[str, Path], tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    tessera("bank", "create", "songs", "--label", "test", "--criterion", "c", db=db)
    added = tessera("bank", "add", "songs", str(audio["song"]), db=db)
    assert "1 added" in added.stdout and "tessera_audio" in added.stdout
    proc = tessera("match", str(audio["clip"]), str(audio["other"]), "--json", db=db)
    found = {Path(x["path"]).name: x["matches"] for x in map(json.loads, proc.stdout.splitlines())}
    assert found["other"] == []
    (hit,) = found["clip"]
    assert hit["signal_type"] == "tessera_audio" and hit["bank"] == "songs"
    assert hit["distance"] <= hit["threshold"]
    detail = hit["detail"]
    assert abs(detail["offset_s"] - START) <= 0.3
    assert detail["pitch_semitones"] == 1.0 and 9.0 <= detail["duration_s"] <= 11.0
    table = tessera("match", str(audio["clip"]), db=db).stdout
    assert "tessera_audio" in table and f"at {START:.1f} s" in table


def test_broken_audio_is_one_clear_error(audio: dict[str, Path], tmp_path: Path) -> None:
    proc = tessera("hash", str(audio["broken"]), db=tmp_path / "t.db", check=False)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors and "broken" in errors[0] and "Traceback" not in proc.stderr
