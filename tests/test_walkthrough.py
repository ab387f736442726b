"""The README's review walkthrough, command by command, on SQLite and on PostgreSQL.

A new user matches content, sees the case, decides it, watches the webhook fire, handles a
removal order inside its hour, processes a complaint, prints the transparency report and checks
the audit log — exactly with the commands the README gives (`## Walkthrough: from a match to the
transparency report`), as real processes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tessera.cli.demo import draw_scene


@pytest.fixture
def db_url(database_url: tuple[str, str | None]) -> str:
    """A URL the CLI can be given: PostgreSQL's schema goes in the connection options."""
    url, schema = database_url
    return f"{url}?options=-csearch_path%3D{schema}" if schema else url


def run(db_url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TESSERA_DATABASE_URL=db_url, COLUMNS="200")
    proc = subprocess.run(
        [sys.executable, "-m", "tessera", *args], env=env, capture_output=True, text=True
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def media(tmp_path: Path) -> dict[str, Path]:
    known, copy, copy2 = tmp_path / "known.png", tmp_path / "upload.jpg", tmp_path / "upload2.jpg"
    draw_scene(1).save(known)
    draw_scene(1).resize((320, 240)).save(copy, quality=50)
    draw_scene(1).resize((400, 300)).save(copy2, quality=70)
    return {"known": known, "copy": copy, "copy2": copy2}


@pytest.fixture
def receiver(db_url: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`tessera webhook receive` for organisation `local`, expecting three deliveries."""
    run(db_url, "org", "create", "local", "--tier", "coordinator")
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    secret = run(db_url, "webhook", "set", "--org", "local", url).stdout.strip()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tessera", "webhook", "receive", "--secret", secret]
        + ["--port", str(port), "--count", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while True:  # wait until it listens
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.05)
    try:
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_from_a_match_to_the_transparency_report(
    db_url: str, media: dict[str, Path], receiver: tuple[str, subprocess.Popen[str]]
) -> None:
    _url, rx = receiver
    run(db_url, "bank", "create", "tco", "--label", "propaganda", "--criterion", "official outlet")
    run(db_url, "bank", "add", "tco", str(media["known"]))

    # 1. Match content: a case opens.
    routed = json.loads(
        run(db_url, "submit", str(media["copy"]), "--content-ref", "post/1", "--json").stdout
    )
    case = routed["case"]["uuid"]
    assert routed["case"]["state"] == "open"
    assert case in run(db_url, "case", "list").stdout

    # 2. Decide: remove, and confirm the entry to the bank's owner.
    decided = run(db_url, "case", "decide", case, "violating", "--reviewer", "alice").stdout
    assert "actioned" in decided and "opinion sent: confirmed" in decided

    # 3. Watch the webhook fire.
    assert "delivered 1" in run(db_url, "actions", "deliver").stdout

    # 4. A removal order for other content: act inside the hour.
    order = json.loads(
        run(
            db_url, "order", "record", "--org", "local", "--authority", "Europol IRU",
            "--legal-reference", "TCO/2026/7", "--content-ref", "post/2", "--json",
        ).stdout
    )  # fmt: skip
    assert 3500 < order["remaining_s"] <= 3600 and order["state"] == "open"
    run(db_url, "order", "act", "--org", "local", order["id"])
    assert "delivered 1" in run(db_url, "actions", "deliver").stdout

    # 5. A complaint on the first case: uphold it, the content is restored.
    run(db_url, "complaint", "file", "--org", "local", "--case", case, "--reason", "a news report")
    (complaint,) = [
        json.loads(line)
        for line in run(db_url, "complaint", "list", "--org", "local", "--json").stdout.splitlines()
    ]
    assert complaint["state"] == "open"
    run(db_url, "complaint", "uphold", "--org", "local", complaint["id"])
    assert "delivered 1" in run(db_url, "actions", "deliver").stdout
    shown = json.loads(run(db_url, "case", "show", case, "--json").stdout)
    assert shown["state"] == "restored"

    # The receiver saw remove, remove, restore, each signature valid, and stopped after three.
    out, _err = rx.communicate(timeout=20)
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events] == ["remove", "remove", "restore"]
    assert [e["body"]["content_ref"] for e in events] == ["post/1", "post/2", "post/1"]

    # 6. The transparency report counts what happened.
    today = datetime.now(UTC).date()
    report = json.loads(
        run(
            db_url, "report", "transparency", "--org", "local", "--from", str(today),
            "--to", str(today + timedelta(days=1)), "--format", "json",
        ).stdout
    )  # fmt: skip
    text = json.dumps(report)
    assert report["removal_orders"]["received"] == 1
    assert report["removal_orders"]["actioned_within_deadline"] == 1
    assert report["complaints"]["upheld"] == 1
    assert report["restorations"] == {"restored": 1, "following_complaint": 1, "other": 0}
    assert "tco" in text

    # 7. The audit log holds every step and verifies.
    verified = run(db_url, "audit", "verify").stdout
    assert verified.startswith("ok:")
    kinds = {
        json.loads(line)["kind"]
        for line in run(db_url, "audit", "list", "--limit", "1000", "--json").stdout.splitlines()
    }
    assert {"case.opened", "case.decided", "action.delivered", "complaint.upheld"} <= kinds
