"""`tessera serve` as a new user meets it (what `make run` does): a fresh folder, the node starts,
prints the command for a first token; that command works and its token reaches the API."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tessera.cli.serve import program_name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tessera_script() -> Path:
    found = shutil.which("tessera", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("the tessera command is not installed next to this Python")
    return Path(found)


def test_a_fresh_node_prints_a_first_token_command_that_works(tmp_path: Path) -> None:
    # The same layout as a clone after `make run`: .venv/bin/tessera, run from the clone.
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "tessera").symlink_to(_tessera_script())
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env["HOME"] = str(tmp_path)
    serve = [".venv/bin/tessera", "--db", "sqlite:///var/tessera.db", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        serve, cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stderr is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while not any("Uvicorn running" in line for line in lines):
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            lines.append(line)
        text = "".join(lines)
        assert "admitted this node's organisation 'local' as coordinator" in text
        hint = next(line.strip() for line in lines if " token create " in line)
        assert hint.startswith(".venv/bin/tessera --db sqlite:///var/tessera.db token create")
        assert (tmp_path / "var" / "tessera.db").exists()

        issued = subprocess.run(
            shlex.split(hint), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert issued.returncode == 0, issued.stderr
        token = re.search(r"tsr_\S+", issued.stdout + issued.stderr)
        assert token is not None, issued.stdout + issued.stderr
        r = httpx.get(
            f"http://127.0.0.1:{port}/v1/me",
            headers={"Authorization": f"Bearer {token.group()}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        assert r.json()["org"] == "local" and r.json()["tier"] == "coordinator"
        assert "admin" in r.json()["scopes"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.mark.parametrize(
    ("argv0", "shown"),
    [
        (".venv/bin/tessera", ".venv/bin/tessera"),
        ("./tessera", "./tessera"),
        ("/usr/local/bin/tessera", "tessera"),
        ("tessera", "tessera"),
        ("/x/tessera/__main__.py", "tessera"),
        ("my dir/tessera", "'my dir/tessera'"),
    ],
)
def test_the_hint_names_the_command_as_it_was_run(argv0: str, shown: str) -> None:
    assert program_name(argv0) == shown
