"""A projection follower on its own, for the crash tests: it catches every read model up
with the log in small batches, printing a line after each committed batch, then exits.

    python -m tests.reliability.follow URL BATCH_SIZE
"""

from __future__ import annotations

import sys

from registry.bootstrap import open_registry


def main(url: str, batch_size: int) -> None:
    with open_registry(url) as services:
        services.follower.batch_size = batch_size
        services.follower.catch_up(progress=lambda read: print(read, flush=True))
        print("caught up", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
