"""The write load the reliability tests drive: a partner reporting cooperation actions over
HTTP, one at a time (`POST /v1/actions`) or several in one NDJSON import
(`POST /v1/imports`), each request under an Idempotency-Key of its own. A request whose
answer is lost (the server died under it) or deferred (503) is retried with the same key
until it is answered, as a careful client would. Every request and every answer goes to a
journal, flushed and fsynced line by line, so the test knows exactly what was promised.

Run as a process of its own (the crash tests kill the server, never the driver):

    python -m tests.reliability.load --base URL --token TOKEN --journal FILE --prefix P

It stops on SIGTERM after finishing (answering) the request each thread has in hand."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.servers import Answer, http_call

PARTNER = "osce-odihr"
IMPORT_EVERY = 5  # every fifth request is an import of several actions
IMPORT_SIZE = 3
RETRY_PAUSE = 0.1  # between retries of a request the server did not answer
REQUEST_TIMEOUT = 20.0
RETRIED = {502, 503, 504}  # the server (or a proxy) says: not now, try again


def action_body(key: str, item: int = 0) -> dict[str, Any]:
    """The action a key stands for: the same key always means the same body (a retry must
    be byte-for-byte the request it repeats), and its summary names the key, so the test
    can find in the event log what each request recorded."""
    day = 1 + sum(key.encode()) % 27
    return {"partners": [PARTNER, "ohchr"], "kind": "joint_activity",
            "occurred_on": f"2024-0{1 + item % 9}-{day:02d}", "countries": ["AL"],
            "themes": ["human-rights"], "mechanisms": ["upr"],
            "summary": f"Reliability workshop {key}#{item}"}


def is_import(key: str) -> bool:
    return int(key.rsplit("-", 1)[1]) % IMPORT_EVERY == IMPORT_EVERY - 1


def actions_of(key: str) -> int:
    """How many actions the request under `key` records."""
    return IMPORT_SIZE if is_import(key) else 1


def key_of_summary(summary: str) -> str | None:
    prefix = "Reliability workshop "
    return summary[len(prefix):].rpartition("#")[0] if summary.startswith(prefix) else None


def send(base: str, token: str, key: str) -> Answer:
    """The request `key` stands for, once (connection errors raise)."""
    headers = {"Idempotency-Key": key}
    if is_import(key):
        lines = [json.dumps({"reporting_partner": PARTNER, **action_body(key, i)})
                 for i in range(IMPORT_SIZE)]
        return http_call(base, "POST", "/v1/imports", token, "\n".join(lines).encode(),
                         headers, REQUEST_TIMEOUT, "application/x-ndjson")
    return http_call(base, "POST", "/v1/actions", token, action_body(key), headers,
                     REQUEST_TIMEOUT)


def body_of(answer: Answer) -> Any:
    """The JSON body, or the text of one that is not JSON (a proxy's error page)."""
    try:
        return answer.json
    except ValueError:
        return answer.body.decode("utf-8", "replace")


def receipts(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The receipts in the body of a 2xx answer, a single write's or an import's."""
    return body.get("receipts", [body])


class Journal:
    """NDJSON lines, each flushed and fsynced before the writer goes on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    @staticmethod
    def read(path: Path) -> list[dict[str, Any]]:
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]


@dataclass
class Outcome:
    """What the journal says about one key."""

    key: str
    attempts: int = 0
    lost: int = 0  # attempts with no answer (connection refused, reset, timed out)
    answers: list[dict[str, Any]] = field(default_factory=list)  # status and body
    first_sent: float = 0.0
    first_lost: bool = False  # the very first attempt got no answer

    @property
    def final(self) -> dict[str, Any] | None:
        return self.answers[-1] if self.answers else None


def outcomes(records: Iterable[dict[str, Any]]) -> dict[str, Outcome]:
    found: dict[str, Outcome] = {}
    for record in records:
        outcome = found.setdefault(record["key"], Outcome(record["key"]))
        if record["event"] == "sent":
            outcome.attempts += 1
            outcome.first_sent = outcome.first_sent or record["at"]
        elif record["event"] == "lost":
            outcome.first_lost = outcome.first_lost or (outcome.lost == 0
                                                        and not outcome.answers)
            outcome.lost += 1
        else:
            outcome.answers.append({"status": record["status"], "body": record["body"]})
    return found


def settle(base: str, token: str, key: str, journal: Journal,
           give_up: threading.Event) -> Answer | None:
    """Send until answered (retrying lost and deferred requests with the same key), or
    until `give_up` is set."""
    while not give_up.is_set():
        journal.write({"event": "sent", "key": key, "at": time.time()})
        try:
            answer = send(base, token, key)
        except (OSError, http.client.HTTPException) as error:
            journal.write({"event": "lost", "key": key, "error": type(error).__name__})
            time.sleep(RETRY_PAUSE)
            continue
        journal.write({"event": "answered", "key": key, "status": answer.status,
                       "body": body_of(answer)})
        if answer.status not in RETRIED:
            return answer
        time.sleep(RETRY_PAUSE)
    return None


def drive_thread(base: str, token: str, prefix: str, journal: Journal,
                 stop: threading.Event, give_up: threading.Event) -> None:
    number = 0
    while not stop.is_set():
        settle(base, token, f"{prefix}-{number}", journal, give_up)
        number += 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n\n")[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--journal", required=True, type=Path)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--give-up-after", type=float, default=60.0,
                        help="seconds after SIGTERM to stop retrying an unanswered request")
    args = parser.parse_args(argv)
    journal = Journal(args.journal)
    stop, give_up = threading.Event(), threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threads = [threading.Thread(target=drive_thread, args=(
        args.base, args.token, f"{args.prefix}-t{n}", journal, stop, give_up))
        for n in range(args.threads)]
    for thread in threads:
        thread.start()
    while not stop.wait(0.1):
        pass
    deadline = time.monotonic() + args.give_up_after
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    give_up.set()
    for thread in threads:
        thread.join()
    journal.close()


if __name__ == "__main__":
    main()
