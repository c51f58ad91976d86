"""Plain DB-driver statements inside a SQLAlchemy session's transaction, for hot paths.

The anchoring worker writes and reads one row per evidence item per batch; SQLAlchemy's per-row
parameter processing cost more than the database work, so those statements go straight through
the driver (``{p}`` in the SQL is replaced by the driver's placeholder: ``?`` or ``%s``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

__all__ = ["executemany_driver", "fetch_driver_rows"]


def _placeholder(session: Session) -> str:
    return "?" if session.connection().dialect.paramstyle == "qmark" else "%s"


def fetch_driver_rows(session: Session, sql: str, params: tuple[object, ...]) -> list[tuple[object, ...]]:
    """Rows of a query as the DB driver's plain tuples (``{p}`` is the driver's placeholder).

    Runs on the session's connection, so inside its transaction.
    """
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(sql.format(p=_placeholder(session)), params)
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()


def executemany_driver(session: Session, sql: str, rows: list[tuple[object, ...]]) -> None:
    """Per-row updates by primary key straight through the DB driver's executemany.

    The hot path of anchoring writes one row per item twice per batch; SQLAlchemy's per-row
    parameter processing cost more than the database work. ``{p}`` is the driver's placeholder.
    """
    session.connection().exec_driver_sql(sql.format(p=_placeholder(session)), rows)
