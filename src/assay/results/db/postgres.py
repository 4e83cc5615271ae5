"""The results database in PostgreSQL, shared by a team (``results = "postgresql://..."``):
the same schema and statements as SQLite's (:mod:`assay.results.db.backends`), written
through psycopg under one advisory lock; and how its URL's password is kept out of every
message (:func:`redact`)."""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from assay.results.db import backends as base
from assay.results.db.backends import Backend, DatabaseError, Row, T, Writer

# pg_advisory_xact_lock key of assay's writers: "assay" in ASCII.
_PG_WRITE_LOCK = 0x6173736179

# user:password@ in a URL; the password up to the last "@", so that one written with an
# unescaped "@" in it is hidden whole (hiding too much is harmless).
_PASSWORD = re.compile(r"(://[^:/@]*:).*@")
# libpq also reads the password from the query (``?password=...``), and a message may
# quote the parameters as ``password=...`` too.
_PASSWORD_PARAMETER = re.compile(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)")


def redact(url: str) -> str:
    """A URL as messages may show it: the password replaced by ``***``."""
    return _PASSWORD_PARAMETER.sub(r"\1***", _PASSWORD.sub(r"\1***@", url))


def _pg_sql(sql: str) -> str:
    if "%" in sql:  # psycopg would read it as a placeholder
        raise AssertionError(f"'%' in SQL: {sql}")
    return sql.replace("?", "%s")


class _PgWriter(Writer):
    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(_pg_sql(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            with self.conn.cursor() as cur:
                cur.executemany(_pg_sql(sql), rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        rows: list[Row] = self.conn.execute(_pg_sql(sql), params).fetchall()
        return rows


class PostgresBackend(Backend):
    """A PostgreSQL database, shared by a team: every assay that is given its URL."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.where = redact(url)
        try:
            import psycopg
        except ImportError:
            raise DatabaseError(
                f"results database {self.where}: PostgreSQL needs the psycopg package",
                hint="pip install 'assay[postgresql]' (or psycopg[binary])",
            ) from None
        self._psycopg = psycopg
        self._lock = threading.Lock()
        self._url = url
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=int(base.WAIT / 4))
        except psycopg.Error as exc:
            raise DatabaseError(
                f"results database {self.where}: cannot connect: {_pg_message(exc, url)}"
            ) from None

    def _retry(self, work: Callable[[], T]) -> T:
        errors = self._psycopg.errors
        deadline = time.monotonic() + base.WAIT
        while True:
            try:
                with self._lock:
                    return work()
            except (errors.SerializationFailure, errors.DeadlockDetected) as exc:
                if time.monotonic() > deadline:
                    raise DatabaseError(f"results database {self.where}: {exc}") from None
                time.sleep(0.005 + random.random() * 0.05)  # noqa: S311 - jitter, no secret
            except self._psycopg.Error as exc:
                raise DatabaseError(
                    f"results database {self.where}: {_pg_message(exc, self._url)}"
                ) from None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._retry(lambda: list(self.conn.execute(_pg_sql(sql), params).fetchall()))

    def write(self, work: Callable[[Writer], T]) -> T:
        def attempt() -> T:
            with self.conn.transaction():
                self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_WRITE_LOCK,))
                return work(_PgWriter(self.conn))

        return self._retry(attempt)

    def close(self) -> None:
        with self._lock:
            self.conn.close()


def _pg_message(exc: Exception, url: str | None) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if url is not None:
        text = text.replace(url, redact(url))
        for secret in _passwords(url):  # a message may quote the password alone
            text = text.replace(secret, "***")
    return redact(text)


def _passwords(url: str) -> list[str]:
    """The password of a URL as written and as decoded (longest first), if it has one."""
    from urllib.parse import unquote

    found = re.match(r"[^:]+://[^:/@]*:(.*)@", url)
    raw = [found.group(1)] if found and found.group(1) else []
    raw += [m.group(2).strip("'") for m in _PASSWORD_PARAMETER.finditer(url) if m.group(2)]
    return sorted({*raw, *map(unquote, raw)} - {""}, key=len, reverse=True)
