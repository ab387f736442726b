"""Videos through the `tessera` command as images go: hash, bank add, match with the segment."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from tessera.cli.demo import draw_scene
from tests.cli.test_cli import tessera
from tests.media.video_synth import encode, encode_audio_only

Frame = npt.NDArray[np.uint8]
FPS = 10


def _panning(seed: int, width: int = 320, height: int = 240) -> list[Frame]:
    """Four seconds of a camera panning across two pictures (a cut at 2 s)."""
    frames = []
    for i in range(4 * FPS):
        picture = np.asarray(draw_scene(seed + i // (2 * FPS), (width + 80, height + 40)))
        x, y = 2 * (i % (2 * FPS)), (i % (2 * FPS))
        frames.append(np.ascontiguousarray(picture[y : y + height, x : x + width]))
    return frames


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A known clip; an excerpt of it, half size, in Matroska with a misleading name; others."""
    d = tmp_path_factory.mktemp("videos")
    (d / "known").mkdir()
    (d / "check").mkdir()
    known = _panning(1)
    (d / "known" / "attack.mp4").write_bytes(encode(len(known), known.__getitem__, fps=FPS))
    excerpt = [cv2.resize(f, (160, 120), interpolation=cv2.INTER_AREA) for f in known[20:]]
    data = encode(len(excerpt), excerpt.__getitem__, fps=FPS, container="matroska")
    (d / "check" / "excerpt.jpg").write_bytes(data)  # the kind comes from the content
    other = _panning(7)
    (d / "check" / "other.mp4").write_bytes(encode(len(other), other.__getitem__, fps=FPS))
    (d / "check" / "tone.mp4").write_bytes(encode_audio_only(5.0))
    return {"known": d / "known", "check": d / "check"}


def test_hash_recognises_video_from_its_content(videos: dict[str, Path], tmp_path: Path) -> None:
    proc = tessera("hash", str(videos["check"] / "excerpt.jpg"), db=tmp_path / "t.db")
    (line,) = map(json.loads, proc.stdout.splitlines())
    assert line["media_kind"] == "video"
    types = {s["type"]: s for s in line["signals"]}
    assert {"vpdq", "md5", "sha256"} <= set(types) and "pdq" not in types
    frames = json.loads(types["vpdq"]["value"])
    assert len(frames) >= 4 and all(len(f.split(",")) == 3 for f in frames)  # Meta's format


def test_bank_add_and_match_report_the_segment(videos: dict[str, Path], tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    tessera("bank", "create", "known", "--label", "test", "--criterion", "c", db=db)
    added = tessera("bank", "add", "known", str(videos["known"]), db=db)
    assert "1 added, 0 already present" in added.stdout

    proc = tessera("match", str(videos["check"]), "--json", db=db)
    found = {Path(x["path"]).name: x["matches"] for x in map(json.loads, proc.stdout.splitlines())}
    assert found["other.mp4"] == [] and found["tone.mp4"] == []
    (hit,) = [m for m in found["excerpt.jpg"] if m["signal_type"] == "vpdq"]
    assert hit["bank"] == "known" and hit["distance"] <= hit["threshold"]
    segment = hit["detail"]
    assert segment["query_start_s"] == pytest.approx(0.0, abs=0.3)
    assert segment["reference_start_s"] == pytest.approx(2.0, abs=0.3)
    assert segment["reference_end_s"] == pytest.approx(3.9, abs=0.3)

    table = tessera("match", str(videos["check"] / "excerpt.jpg"), db=db).stdout
    assert "vpdq" in table and "of ref 2." in table  # the segment, as people read it


def test_a_mirrored_copy_matches_only_with_dihedral(
    videos: dict[str, Path], tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    tessera("bank", "create", "known", "--criterion", "c", db=db)
    tessera("bank", "add", "known", str(videos["known"]), db=db)
    mirrored = [np.ascontiguousarray(f[:, ::-1]) for f in _panning(1)]
    path = tmp_path / "mirrored.mov"
    path.write_bytes(encode(len(mirrored), mirrored.__getitem__, fps=FPS, container="mov"))
    plain = json.loads(tessera("match", str(path), "--json", db=db).stdout)
    assert not [m for m in plain["matches"] if m["signal_type"] == "vpdq"]
    proc = tessera("match", str(path), "--dihedral", "--json", db=db)
    (hit,) = [m for m in json.loads(proc.stdout)["matches"] if m["signal_type"] == "vpdq"]
    assert hit["transform"] == "mirror"


def test_a_broken_video_is_one_clear_error(videos: dict[str, Path], tmp_path: Path) -> None:
    data = (videos["known"] / "attack.mp4").read_bytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[:400])  # the MP4 index is at the end: nothing to decode
    proc = tessera("hash", str(broken), db=tmp_path / "t.db", check=False)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert any("broken.mp4" in e for e in errors)
    assert "Traceback" not in proc.stderr
