"""Which storage errors are outages (503), which a full disk (507), and which defects."""

from __future__ import annotations

import errno
import sqlite3

import eventsourcing.persistence as es
import psycopg
import psycopg_pool
import sqlalchemy as sa

from api.outages import storage_problem


def _raised_from(outer: Exception, cause: BaseException) -> Exception:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise outer from inner
    except Exception as error:  # noqa: BLE001 - the chain is what is tested
        return error


def test_a_refused_postgresql_connection_wrapped_by_eventsourcing_is_a_503_outage() -> None:
    error = _raised_from(
        es.OperationalError("connection failed"),
        psycopg.OperationalError("connection refused"),
    )

    found = storage_problem(error)

    assert found is not None and (found.status, found.code) == (503, "database-unavailable")
    assert "Idempotency-Key" in found.detail


def test_a_pool_that_has_no_connection_to_give_is_a_503_outage() -> None:
    found = storage_problem(psycopg_pool.PoolTimeout("couldn't get a connection after 1 sec"))
    assert found is not None and found.status == 503
    found = storage_problem(sa.exc.TimeoutError("QueuePool limit reached"))
    assert found is not None and found.status == 503


def test_sqlite_saying_the_disk_is_full_is_a_507_that_says_what_to_do() -> None:
    error = _raised_from(
        es.OperationalError("database or disk is full"),
        sqlite3.OperationalError("database or disk is full"),
    )

    found = storage_problem(error)

    assert found is not None and (found.status, found.code) == (507, "storage-full")
    assert "DIGIONE_DATA_DIR" in found.detail


def test_no_space_left_on_a_file_write_is_a_507() -> None:
    error = OSError(errno.ENOSPC, "No space left on device")
    found = storage_problem(error)
    assert found is not None and found.status == 507


def test_an_error_that_is_not_about_storage_is_no_storage_problem() -> None:
    assert storage_problem(ValueError("givenName Aino is too long")) is None
    assert storage_problem(es.IntegrityError("duplicate key")) is None
