"""SQLAlchemy engine, sessions and the declarative base.

Services only flush; the unit of work of a request, a worker job or a command
(``exchange.unit``) commits once. Tests bind the session factory to one connection whose
outer transaction is rolled back after each test.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Dialect,
    Engine,
    MetaData,
    Table,
    TypeDecorator,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database keeps
    (SQLite keeps no zone and would hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use adapters.db.utcnow()")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def rfc3339(moment: dt.datetime) -> str:
    """Microsecond RFC 3339 UTC text; sorts as it compares, survives every database unchanged."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, WAL and real transactions."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            # pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy emits BEGIN itself.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Connection) -> None:
            # IMMEDIATE takes the write lock up front: a read-then-write transaction can then
            # never fail on a snapshot another writer has moved past (embedded mode only).
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # hide_parameters: a failing statement's values (names, consent texts) never reach a log.
    return create_engine(
        url,
        # No pre-ping (a SELECT 1 on every checkout): connections are replaced after 5 minutes,
        # before server or proxy idle timeouts cut them, and the first statement of a unit of
        # work (the registry version read, exchange.registry.cache) is retried once on a new
        # connection when the pooled one turns out dead. Any other failure answers 503.
        pool_recycle=300,
        pool_size=10,
        max_overflow=10,
        hide_parameters=True,
        # Connect within 5 s; a peer gone silent (host down, network cut) is noticed by TCP
        # keepalives and the user timeout within about 10 s. A server process that is alive but
        # frozen still acknowledges at the TCP level: only /readyz's own deadline bounds that.
        connect_args={
            "connect_timeout": 5,
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
            "tcp_user_timeout": 10_000,
        },
    )


def insert_unless_exists(
    session: Session, table: Table, values: dict[str, Any], unique: Sequence[str]
) -> bool:
    """INSERT ``values`` as a row of ``table`` unless a row with the same ``unique`` columns
    exists: one statement, no savepoint (``ON CONFLICT DO NOTHING``). A conflicting row that
    another transaction is still writing is waited for. True when the row was inserted."""
    statement = _insert_unless_exists(session.get_bind().dialect.name, table, tuple(unique))
    return session.execute(statement, values).first() is not None


@functools.lru_cache(maxsize=32)
def _insert_unless_exists(dialect: str, table: Table, unique: tuple[str, ...]) -> Any:
    # Built once per table: the values are bound per call.
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=list(unique))
        .returning(*table.primary_key.columns)
    )


class Database:
    """The engine plus the session factory the application uses."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def bind_to(self, connection: Connection) -> None:
        """Route every session through ``connection`` (tests: one rolled-back transaction)."""
        self.sessions = sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query. A pooled connection the server
        dropped is not an outage: the query is tried once more, on a new connection."""
        for last in (False, True):
            try:
                with self.sessions() as session:
                    session.execute(text("SELECT 1"))
                return
            except DBAPIError as exc:
                if last or not exc.connection_invalidated:
                    raise

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session committed once at the end, rolled back on any error (for code below the
        application, and tests; the application's doors use ``exchange.unit.UnitOfWork``)."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
