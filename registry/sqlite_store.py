"""eventsourcing's SQLite store, with a statement cache that holds more than one statement.

eventsourcing 9.5 opens its connections with `cached_statements=True`, which `sqlite3`
reads as a cache of one statement: every statement that is not the connection's previous
one is parsed and planned again. A registry connection runs many (BEGIN, the insert, a
read model's queries, ROLLBACK), so nearly all were prepared afresh: a DESA duplicate
check (three statements) right after a write took 184 µs, 80 µs with this cache; 89 and
29 µs in a loop of such checks alone.
`registry.config` names this module's `Factory` as the persistence module for SQLite.
"""

from __future__ import annotations

import sqlite3

from eventsourcing.persistence import InterfaceError
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteFactory,
)
from eventsourcing.utils import Environment, EnvType

STATEMENT_CACHE = 256  # per connection: twice sqlite3's default, as read models build their
# queries per combination of filters


class StatementCachingPool(SQLiteConnectionPool):
    """The library's pool; each connection it opens caches `STATEMENT_CACHE` statements."""

    def _create_connection(self) -> SQLiteConnection:
        # As SQLiteConnectionPool._create_connection does, but for the cache's size.
        try:
            connection = sqlite3.connect(
                database=self.db_name, uri=True, check_same_thread=False,
                isolation_level=None, cached_statements=STATEMENT_CACHE,
                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT)
        except (sqlite3.Error, TypeError) as error:
            raise InterfaceError(error) from error
        if not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
            if mode.lower() != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
                self.journal_mode_was_changed_to_wal = True
            self.is_journal_mode_wal = True
        connection.row_factory = sqlite3.Row
        return SQLiteConnection(sqlite_conn=connection, max_age=self.max_age)


class Factory(SQLiteFactory):
    """`eventsourcing.sqlite`'s factory, its datastore drawing on a `StatementCachingPool`."""

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        library_pool = self.datastore.pool  # has opened no connection yet
        self.datastore.pool = StatementCachingPool(
            db_name=library_pool.db_name, lock_timeout=library_pool.lock_timeout,
            pool_size=library_pool.pool_size, max_overflow=library_pool.max_overflow,
            pool_timeout=library_pool.pool_timeout, max_age=library_pool.max_age,
            pre_ping=library_pool.pre_ping)
        library_pool.close()
