"""The auditor's commands as an auditor runs them: save a checkpoint, verify exports and a
live server against it with nothing but the public key, and have the registry check itself
(`coopreg verify`). Most run in this process (click's runner) for speed; the auditor's own
verification runs as a real process too."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from registry.cli import main
from tests.conftest import action, agreement, partner

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def coopreg(db: Path, *args: str, stdin: str | None = None, check: bool = True,
            process: bool = False) -> Run:
    """`coopreg --db sqlite:///DB ARGS`, in a real process if asked."""
    argv = ["--db", f"sqlite:///{db}", *args]
    if process:
        done = subprocess.run([sys.executable, "-m", "registry", *argv], cwd=ROOT, input=stdin,
                              capture_output=True, text=True, timeout=120)
        result = Run(done.returncode, done.stdout, done.stderr)
    else:
        invoked = CliRunner().invoke(main, argv, input=stdin)
        result = Run(invoked.exit_code, invoked.stdout, invoked.stderr)
    if check and result.returncode != 0:
        raise AssertionError(f"coopreg {' '.join(args)} failed ({result.returncode}): "
                             f"{result.stdout}{result.stderr}")
    return result


def post(db: Path, *commands: dict) -> None:
    coopreg(db, "post", stdin="\n".join(json.dumps(c) for c in commands))


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry with its signing key and a dozen events."""
    path = tmp_path_factory.mktemp("audit") / "registry.db"
    coopreg(path, "init")
    post(path, *(partner(p) for p in ("ohchr", "osce-odihr")), agreement(),
         *(action(summary=f"Workshop {n}") for n in range(9)))
    return path


@pytest.fixture(scope="module")
def vkey(db: Path) -> str:
    return coopreg(db, "audit", "key").stdout.splitlines()[0]


def test_the_key_is_printed_as_a_vkey_and_a_pem(db: Path, vkey: str):
    out = coopreg(db, "audit", "key").stdout
    name, key_hash, _ = vkey.split("+", 2)
    assert name.startswith("coopreg/") and len(key_hash) == 8
    assert "-----BEGIN PUBLIC KEY-----" in out


def test_an_auditor_saves_a_checkpoint_and_later_checks_the_log_only_grew(db: Path, vkey: str,
                                                                          tmp_path: Path):
    saved = tmp_path / "saved.checkpoint"
    saved.write_text(coopreg(db, "audit", "checkpoint").stdout)
    size = int(saved.read_text().split("\n")[1])
    post(db, action(summary="Recorded after the auditor's visit"))
    export = tmp_path / "later.ndjson"
    coopreg(db, "export", str(export), "--all-checkpoints")
    newest = tmp_path / "newest.checkpoint"
    out = coopreg(db, "audit", "verify", "--export", str(export), "--public-key", vkey,
                  "--checkpoint", str(saved), "--save-checkpoint", str(newest),
                  process=True).stdout
    assert f"verified {size + 1} events" in out and "events/s" in out
    assert int(newest.read_text().split("\n")[1]) == size + 1
    report = json.loads(coopreg(db, "audit", "verify", "--export", str(export),
                                "--public-key", vkey, "--checkpoint", str(newest),
                                "--json").stdout)
    assert report["ok"] and report["events"] == size + 1 and report["first_failure"] is None


def test_the_pem_key_in_a_file_serves_as_well(db: Path, tmp_path: Path):
    key_file = tmp_path / "log.pem"
    key_file.write_text(coopreg(db, "audit", "key").stdout.split("\n", 1)[1])
    export = tmp_path / "events.ndjson"
    coopreg(db, "export", str(export))
    result = coopreg(db, "audit", "verify", "--export", str(export), "--public-key",
                     str(key_file))
    assert "verified" in result.stdout


def test_another_logs_key_does_not_verify_the_export(db: Path, tmp_path: Path):
    other = tmp_path / "other.db"
    coopreg(other, "init")
    foreign = coopreg(other, "audit", "key").stdout.splitlines()[0]
    export = tmp_path / "events.ndjson"
    coopreg(db, "export", str(export))
    result = coopreg(db, "audit", "verify", "--export", str(export), "--public-key", foreign,
                     check=False)
    assert result.returncode == 1
    assert result.stdout.startswith("bad checkpoint (size ")
    assert "carries no signature by coopreg/" in result.stdout


def test_an_edited_export_names_its_first_bad_position(db: Path, vkey: str, tmp_path: Path):
    lines = coopreg(db, "export").stdout.splitlines()
    record = json.loads(lines[5])
    record["state"] = record["state"].replace("Workshop", "Worksh0p")
    lines[5] = json.dumps(record, ensure_ascii=False)
    edited = tmp_path / "edited.ndjson"
    edited.write_text("\n".join(lines) + "\n")
    result = coopreg(db, "audit", "verify", "--export", str(edited), "--public-key", vkey,
                     check=False)
    assert result.returncode == 1
    assert result.stdout.startswith(f"first bad position: {record['position']} — ")


def test_the_live_store_verifies_end_to_end(db: Path):
    out = coopreg(db, "verify").stdout
    assert "verified" in out and "root" in out


@pytest.fixture
def server(db: Path) -> Iterator[str]:
    """The API over the same file, served by werkzeug in a thread."""
    from api import create_app

    app = create_app({"COOPREG_DB": f"sqlite:///{db}"})
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}"
    finally:
        http.shutdown()
        app.extensions["coopreg"].worker.stop()
        app.extensions["coopreg"].services.close()


def test_a_server_is_verified_page_by_page_with_an_auditors_token(db: Path, vkey: str,
                                                                  server: str, tmp_path: Path):
    token = coopreg(db, "token", "issue", "--role", "auditor").stdout.strip()
    saved = tmp_path / "saved.checkpoint"
    saved.write_text(coopreg(db, "audit", "checkpoint").stdout)
    out = coopreg(db, "audit", "verify", "--url", server, "--token", token, "--public-key",
                  vkey, "--checkpoint", str(saved)).stdout
    assert out.startswith(f"{server}: verified ")
    refused = coopreg(db, "audit", "verify", "--url", server, "--public-key", vkey,
                      check=False)
    assert refused.returncode != 0 and "answered 401" in refused.stderr
