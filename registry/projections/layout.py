"""Read-model layouts change between releases; the log they are built from does not. A
read model whose tables an earlier layout created is dropped and rebuilt from the log on
the next catch-up, instead of failing on its first insert."""

from __future__ import annotations

from typing import Any

from registry.projections.base import ReadModel


def create_tables_or_relayout(projection: ReadModel, marker: str | tuple[str, ...],
                              retired: tuple[str, ...] = ()) -> None:
    """Create the projection's tables. When a `marker` (a table only the current layout
    has, or `table.column`; one or several) is missing while tables of the projection, or
    `retired` ones, exist, those hold an earlier layout: drop them all, create the current
    ones, forget the tracking."""
    sql = projection.sql
    current = all(_present(sql, m) for m in ((marker,) if isinstance(marker, str) else marker))
    earlier = not current and any(
        sql.has_tables([name]) for name in (*projection.tables, *retired))
    if earlier:
        with sql.transaction() as cursor:
            sql.lock_ddl(cursor)
            for name in (*projection.tables, *retired):
                cursor.execute(f"DROP TABLE IF EXISTS {sql.table(name)}")
            projection.model.forget_tracking(cursor)
    ReadModel.create_tables(projection)


def _present(sql: Any, marker: str) -> bool:
    table, _, column = marker.partition(".")
    return sql.has_tables([table]) and (not column or sql.has_column(table, column))
