"""Scan sources: folders and manifests, with bad lines as per-item errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tessera.errors import InputError
from tessera.scan.source import open_source


def test_folder_items_have_relative_ids_in_stable_order(tmp_path: Path) -> None:
    for name in ("b.jpg", "a.jpg", "z/c.jpg", "m/d.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    items = list(open_source(tmp_path).items())
    assert [i.key for i in items] == ["a.jpg", "b.jpg", "m/d.jpg", "z/c.jpg"]
    assert [i.position for i in items] == [0, 1, 2, 3]
    assert all(i.ok and Path(i.path).is_file() for i in items)


def test_jsonl_manifest_bad_lines_are_item_errors(tmp_path: Path) -> None:
    manifest = tmp_path / "list.jsonl"
    lines = [
        json.dumps({"path": "a.jpg", "content_id": "post/1"}),
        "",
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"path": "b.jpg"}),
        json.dumps({"content_id": "post/3"}),
        json.dumps({"path": "/abs/c.jpg", "content_id": "post/4"}),
        json.dumps({"path": "d.jpg", "content_id": "x" * 3000}),
    ]
    manifest.write_bytes("\n".join(lines).encode() + b"\n\xff\xfe\n")
    items = list(open_source(manifest).items())
    assert items[0].ok and items[0].key == "post/1"
    assert items[0].path == str(tmp_path / "a.jpg")
    assert items[0].position == 1
    errors = {i.position: i.error for i in items if not i.ok}
    assert set(errors) == {3, 4, 5, 6, 8, 9}
    assert "not JSON" in str(errors[3])
    assert "not a JSON object" in str(errors[4])
    assert "content_id" in str(errors[5])
    assert "'path'" in str(errors[6])
    assert "over 2000" in str(errors[8])
    assert "UTF-8" in str(errors[9])
    assert all(i.key == f"#line {i.position}" for i in items if not i.ok)
    assert items[3].ok is False and [i.key for i in items if i.ok] == ["post/1", "post/4"]
    assert next(i for i in items if i.key == "post/4").path == "/abs/c.jpg"


def test_csv_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "list.csv"
    manifest.write_text(
        'content_id,path,extra\npost/1,a.jpg,x\npost/2,b.jpg\n,c.jpg,y\n\npost/4,"d,e.jpg",z\n'
    )
    items = list(open_source(manifest).items())
    assert [(i.position, i.key, i.ok) for i in items] == [
        (2, "post/1", True),
        (3, "#line 3", False),
        (4, "#line 4", False),
        (6, "post/4", True),
    ]
    assert "3 fields" not in str(items[1].error) and "2 fields" in str(items[1].error)
    assert items[3].path == str(tmp_path / "d,e.jpg")


def test_csv_without_the_columns_is_refused(tmp_path: Path) -> None:
    manifest = tmp_path / "list.csv"
    manifest.write_text("file,id\na.jpg,1\n")
    with pytest.raises(InputError, match="path.*content_id"):
        list(open_source(manifest).items())


def test_open_source_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        open_source(tmp_path / "missing")
    (tmp_path / "photo.jpg").write_bytes(b"x")
    with pytest.raises(InputError, match="manifest"):
        open_source(tmp_path / "photo.jpg")
    with pytest.raises(InputError, match="folder"):
        open_source(tmp_path, manifest=True)
    assert open_source(tmp_path / "photo.jpg", manifest=True).kind == "jsonl"
