"""One CSV row into the command the REST PUT of the same record would give.

A row is turned into the OneRoster JSON shape of its record, validated by the very models
the roster command API validates with (api/models.py), and converted by the same functions
(api/routers/roster.py), so a CSV import and a REST PUT can never disagree on a record.
Pure: no tenant and no store; what is wrong is a `RowError` naming the CSV column.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from api.oneroster_csv.bundle import Note
from api.routers.roster import ROSTER_BODIES

__all__ = [
    "DROPPED_DEMOGRAPHICS",
    "RowError",
    "column_of",
    "row_command",
    "row_shape",
    "split_list",
]

#: US race and ethnicity flags: special-category data (GDPR art. 9), never stored.
DROPPED_DEMOGRAPHICS = (
    "americanIndianOrAlaskaNative",
    "asian",
    "blackOrAfricanAmerican",
    "nativeHawaiianOrOtherPacificIslander",
    "white",
    "demographicRaceTwoOrMoreRaces",
    "hispanicOrLatinoEthnicity",
)
_DEMOGRAPHICS_KEPT = (
    "birthDate",
    "sex",
    "countryOfBirthCode",
    "stateOfBirthAbbreviation",
    "cityOfBirth",
    "publicSchoolResidenceStatus",
)
#: The JSON field of a record → the CSV column it comes from, where the names differ.
_COLUMNS: dict[str, dict[str, str]] = {
    "orgs": {"parent": "parentSourcedId"},
    "academicSessions": {"parent": "parentSourcedId"},
    "courses": {"schoolYear": "schoolYearSourcedId", "org": "orgSourcedId"},
    "classes": {
        "course": "courseSourcedId",
        "school": "schoolSourcedId",
        "terms": "termSourcedIds",
    },
    "users": {
        "preferredFirstName": "preferredGivenName",
        "preferredLastName": "preferredFamilyName",
        "primaryOrg": "primaryOrgSourcedId",
        "agents": "agentSourcedIds",
        "roles": "role",
    },
    "enrollments": {
        "user": "userSourcedId",
        "class": "classSourcedId",
        "class_": "classSourcedId",
        "school": "schoolSourcedId",
    },
}
_USER_IDS = re.compile(r"\{([^{}:]+):([^{}]*)\}")


class RowError(ValueError):
    """Raised when a row cannot become a record: the column and what is wrong with it."""

    def __init__(self, column: str | None, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def column_of(file: str, field: str | None) -> str | None:
    """The CSV column of a record's JSON field (or a domain error's field)."""
    if field is None:
        return None
    head = field.split(".")[0].split("[")[0]
    return _COLUMNS.get(file, {}).get(head, head)


def split_list(value: str) -> list[str]:
    """A multi-valued field: comma-separated values (the cell itself is quoted)."""
    return [part.strip() for part in value.split(",") if part.strip()]


def _ref(value: str) -> dict[str, str] | None:
    return {"sourcedId": value} if value else None


def _optional(value: str) -> str | None:
    return value or None


def _bool(
    row: dict[str, str], column: str, default: bool, notes: list[Note], file: str, line: int
) -> Any:
    value = row.get(column, "")
    if not value:
        return default
    if value in ("true", "false"):
        return value == "true"
    if value.lower() in ("true", "false"):
        notes.append(Note(file, line, column, f"boolean {value!r} read as {value.lower()!r}"))
        return value.lower() == "true"
    raise RowError(column, f"{value!r} is not a boolean: write true or false")


def _user_ids(value: str) -> list[dict[str, str]]:
    if not value:
        return []
    found = _USER_IDS.findall(value)
    if not found or _USER_IDS.sub("", value).replace(",", "").strip():
        raise RowError("userIds", f"{value!r} is not a list of {{type:id}} items")
    return [{"type": kind.strip(), "identifier": ident.strip()} for kind, ident in found]


def row_shape(file: str, row: dict[str, str], line: int, notes: list[Note]) -> dict[str, Any]:
    """The OneRoster JSON shape of the row's record (a user's roles and agents are the
    importer's to add: they come from other rows too)."""
    g = row.get
    if file == "orgs":
        return {
            "name": g("name", ""),
            "type": g("type", ""),
            "identifier": g("identifier", ""),
            "parent": _ref(g("parentSourcedId", "")),
        }
    if file == "academicSessions":
        return {
            "title": g("title", ""),
            "type": g("type", ""),
            "startDate": g("startDate") or None,
            "endDate": g("endDate") or None,
            "parent": _ref(g("parentSourcedId", "")),
            "schoolYear": g("schoolYear", ""),
        }
    if file == "courses":
        return {
            "title": g("title", ""),
            "courseCode": g("courseCode", ""),
            "schoolYear": _ref(g("schoolYearSourcedId", "")),
            "org": _ref(g("orgSourcedId", "")),
            "grades": split_list(g("grades", "")),
            "subjects": split_list(g("subjects", "")),
            "subjectCodes": split_list(g("subjectCodes", "")),
        }
    if file == "classes":
        return {
            "title": g("title", ""),
            "classCode": _optional(g("classCode", "")),
            "classType": _optional(g("classType", "")),
            "location": _optional(g("location", "")),
            "grades": split_list(g("grades", "")),
            "subjects": split_list(g("subjects", "")),
            "subjectCodes": split_list(g("subjectCodes", "")),
            "periods": split_list(g("periods", "")),
            "course": _ref(g("courseSourcedId", "")),
            "school": _ref(g("schoolSourcedId", "")),
            "terms": [{"sourcedId": t} for t in split_list(g("termSourcedIds", ""))],
        }
    if file == "users":
        shape: dict[str, Any] = {
            "enabledUser": _bool(row, "enabledUser", True, notes, file, line),
            "givenName": g("givenName", ""),
            "familyName": g("familyName", ""),
            "middleName": _optional(g("middleName", "")),
            "preferredFirstName": _optional(g("preferredGivenName", "")),
            "preferredMiddleName": _optional(g("preferredMiddleName", "")),
            "preferredLastName": _optional(g("preferredFamilyName", "")),
            "pronouns": _optional(g("pronouns", "")),
            "username": _optional(g("username", "")),
            "userMasterIdentifier": _optional(g("userMasterIdentifier", "")),
            "identifier": _optional(g("identifier", "")),
            "email": _optional(g("email", "")),
            "sms": _optional(g("sms", "")),
            "phone": _optional(g("phone", "")),
            "userIds": _user_ids(g("userIds", "")),
            "primaryOrg": _ref(g("primaryOrgSourcedId", "")),
            "grades": split_list(g("grades", "")),
        }
        return {k: v for k, v in shape.items() if v is not None}
    if file == "enrollments":
        return {
            "user": _ref(g("userSourcedId", "")),
            "class": _ref(g("classSourcedId", "")),
            "school": _ref(g("schoolSourcedId", "")),
            "role": g("role", ""),
            "primary": _bool(row, "primary", False, notes, file, line),
            "beginDate": g("beginDate") or None,
            "endDate": g("endDate") or None,
        }
    if file == "demographics":
        return {name: row[name] for name in _DEMOGRAPHICS_KEPT if row.get(name)}
    raise ValueError(f"no records are read from {file}.csv")


def row_command(file: str, sourced_id: str, shape: dict[str, Any], status: str) -> Any:
    """The domain command of the record, validated as the REST PUT validates its body."""
    _envelope, model, convert, _method = ROSTER_BODIES[file]
    try:
        record = model.model_validate({**shape, "sourcedId": sourced_id, "status": status})
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise RowError(column_of(file, field), str(first["msg"])) from None
    return convert(sourced_id, record)


#: What applies a converted command: the TenantApplication method, as the REST PUT calls it.
Apply = Callable[..., Any]
