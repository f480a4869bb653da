"""A user's put and the blind index of their sealed fields are recorded in one transaction:
the index never finds a user by details the store did not record, nor misses recorded ones."""

from __future__ import annotations

import pytest

from domain.application import TenantApplication
from domain.commands import Actor, PutOrg
from tests.builders import a_student_put


def _put(app: TenantApplication, email: str) -> None:
    app.put_user(
        Actor(app.tenant, "admin", "a"),
        a_student_put("stu-1", givenName="Aino", familyName="Aalto", email=email),
    )


def _school(app: TenantApplication) -> None:
    app.put_org(
        Actor(app.tenant, "admin", "a"), PutOrg("sch-1", "active", "K", "school", "1", None)
    )


def _rename_blind_index(app: TenantApplication, old: str, new: str) -> None:
    schema = f'"tenant_{app.tenant}".' if app.tables._postgres else ""
    with app.tables._transaction() as cursor:
        cursor.execute(f"ALTER TABLE {schema}{old} RENAME TO {new}")


def test_a_corrected_email_is_found_by_its_new_value_only(app: TenantApplication) -> None:
    _school(app)
    _put(app, "first@example.invalid")

    _put(app, "second@example.invalid")

    assert app.users_with("email", "first@example.invalid") == []
    assert app.users_with("email", "SECOND@example.invalid") == ["stu-1"]


def test_a_put_whose_index_cannot_be_written_records_nothing(app: TenantApplication) -> None:
    _school(app)
    _put(app, "first@example.invalid")
    head = app.head_position()
    _rename_blind_index(app, "digione_blind_index", "digione_blind_index_away")
    try:
        with pytest.raises(Exception, match="digione_blind_index"):
            _put(app, "second@example.invalid")
    finally:
        _rename_blind_index(app, "digione_blind_index_away", "digione_blind_index")

    assert app.head_position() == head
    assert app.users_with("email", "first@example.invalid") == ["stu-1"]
    assert app.users_with("email", "second@example.invalid") == []
