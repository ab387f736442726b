"""Review from the command line: submit content, see the case, decide it, set a bank's policy."""

from __future__ import annotations

import json
from pathlib import Path

from tessera.cli.demo import draw_scene
from tests.cli.test_cli import tessera


def test_submit_list_decide_and_policies(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    known, copy, other = tmp_path / "known.png", tmp_path / "copy.jpg", tmp_path / "other.jpg"
    draw_scene(1).save(known)
    draw_scene(1).resize((320, 240)).save(copy, quality=50)
    draw_scene(4).save(other)
    tessera("bank", "create", "tco", db=db)
    tessera("bank", "add", "tco", str(known), db=db)

    routed = json.loads(
        tessera("submit", str(copy), "--content-ref", "post/1", "--json", db=db).stdout
    )
    case = routed["case"]
    assert case["state"] == "open" and case["content_ref"] == "post/1"
    assert {m["bank"] for m in case["matches"]} == {"tco"}
    nothing = json.loads(tessera("submit", str(other), "--json", db=db).stdout)
    assert nothing["case"] is None and nothing["matches"] == []

    listed = [
        json.loads(line) for line in tessera("case", "list", "--json", db=db).stdout.splitlines()
    ]
    assert [c["uuid"] for c in listed] == [case["uuid"]]
    shown = tessera("case", "show", case["uuid"], db=db).stdout
    assert "post/1" in shown and "tco" in shown

    decided = tessera(
        "case", "decide", case["uuid"], "violating", "--reviewer", "rev-1", "--note", "logo", db=db
    ).stdout
    assert (
        "actioned" in decided
        and "action queued" in decided
        and "opinion sent: confirmed" in decided
    )
    again = tessera("case", "decide", case["uuid"], "violating", db=db, check=False)
    assert again.returncode == 1 and "only an open or reopened case" in again.stderr
    bad = tessera("case", "decide", case["uuid"], "exempt", db=db, check=False)
    assert bad.returncode != 0

    assert "tco: allow_list" in tessera("policy", "set", "tco", "allow_list", db=db).stdout
    suppressed = json.loads(
        tessera("submit", str(copy), "--content-ref", "post/2", "--json", db=db).stdout
    )
    assert suppressed["suppressed"] and suppressed["case"] is None
    assert "allow_list" in tessera("policy", "list", db=db).stdout
    refused = tessera("policy", "set", "tco", "review", "--shadow", db=db, check=False)
    assert refused.returncode == 1 and "auto_action" in refused.stderr
    missing = tessera("case", "show", "nope", db=db, check=False)
    assert missing.returncode == 1 and "no case" in missing.stderr
