"""Reading bundles and rows (pure): the binding, the quirks tolerated, what is refused."""

from __future__ import annotations

import pytest

from api.oneroster_csv.bundle import BundleError, Note
from api.oneroster_csv.rows import RowError, row_command, row_shape
from domain.commands import PutUser
from tests.oneroster_csv.conftest import SCHOOL, bundle_of, csv_files


def test_a_quoted_field_spanning_lines_keeps_the_row_number_of_its_start() -> None:
    files = csv_files({"orgs": ['sch-1,,,"Koulu\nKaksi",school,01,', "sch-2,,,Toinen,school,02,"]})

    bundle = bundle_of(files)

    rows = bundle.files["orgs"].rows
    assert [(line, values["name"]) for line, values in rows] == [
        (2, "Koulu\nKaksi"),
        (4, "Toinen"),
    ]


def test_lower_case_file_names_and_misspelled_headers_are_read_and_reported() -> None:
    files = csv_files({"users": SCHOOL["users"][:1]})
    files["users.csv"] = files["users.csv"].replace(b"preferredGivenName", b"prefferedGivenName")
    files["USERS.csv"] = files.pop("users.csv")

    bundle = bundle_of(files)

    assert "preferredGivenName" in bundle.files["users"].rows[0][1]
    reasons = [note.reason for note in bundle.quirks]
    assert any("read as users.csv" in r for r in reasons)
    assert any("'prefferedGivenName'" in r for r in reasons)


@pytest.mark.parametrize(
    ("files", "says"),
    [
        ({"orgs.csv": b"sourcedId\n"}, "no manifest.csv"),
        (csv_files({"orgs": []}, version="2.0"), "oneroster.version '2.0'"),
        (csv_files({"orgs": []}, mode="sometimes"), "absent, bulk or delta"),
        ({**csv_files({"orgs": []}), "orgs.csv": b"sourcedId,name\nx,y\n"}, "lacks the column"),
        ({**csv_files({"orgs": []}), "orgs.csv": b"\xff\xfe"}, "not UTF-8"),
    ],
)
def test_a_bundle_that_cannot_be_read_is_refused_saying_what_to_do(
    files: dict[str, bytes], says: str
) -> None:
    with pytest.raises(BundleError, match=says):
        bundle_of(files)


def test_race_and_ethnicity_flags_never_reach_the_demographics_record() -> None:
    row = dict(zip(("sourcedId", "birthDate", "white", "asian", "sex"), ("s", "2016-01-02", "true", "false", "male"), strict=True))  # fmt: skip

    shape = row_shape("demographics", row, 2, [])

    assert shape == {"birthDate": "2016-01-02", "sex": "male"}


def test_an_upper_case_boolean_is_read_and_noted_with_its_row_and_column() -> None:
    notes: list[Note] = []
    row = {"sourcedId": "u", "enabledUser": "FALSE", "givenName": "A", "familyName": "B"}

    shape = row_shape("users", row, 7, notes)

    assert shape["enabledUser"] is False
    assert notes == [Note("users", 7, "enabledUser", "boolean 'FALSE' read as 'false'")]


def test_a_user_row_becomes_the_command_a_rest_put_gives_without_a_password() -> None:
    row = {"sourcedId": "u", "givenName": "Aino", "familyName": "V", "password": "salasana",
           "preferredGivenName": "Ainoliina", "userIds": "{SIS:12},{LDAP:aino}"}  # fmt: skip
    shape = row_shape("users", row, 2, [])
    shape["roles"] = [{"roleType": "primary", "role": "student", "org": {"sourcedId": "s"}}]

    command = row_command("users", "u", shape, "active")

    assert isinstance(command, PutUser)
    assert command.personal["preferredFirstName"] == "Ainoliina"
    assert command.personal["userIds"] == [
        {"type": "SIS", "identifier": "12"},
        {"type": "LDAP", "identifier": "aino"},
    ]
    assert "salasana" not in repr(command)


def test_a_malformed_user_ids_cell_names_its_column() -> None:
    with pytest.raises(RowError) as refused:
        row_shape("users", {"sourcedId": "u", "userIds": "SIS=12"}, 2, [])

    assert refused.value.column == "userIds"
