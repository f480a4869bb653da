"""Exporting a tenant's roster as a OneRoster 1.2 CSV bundle, recorded as a disclosure.

The bundle is read from the roster read model and written in the CSV binding: manifest.csv
with every file's row (the rostering files bulk, the others absent) and each file with the
standard's headers in their order. Every file is `bulk`, so `status` and
`dateLastModified` are blank and records marked tobedeleted are left out (a bulk file's
absence is the deletion). Agents are written both ways: a student names their guardians
and each guardian names their students. An erased user is written with placeholder names
and nothing else personal, and their demographics are left out; importing the bundle
back never brings erased data back (a user whose key is gone cannot get new personal data).

Handing the bundle to a recipient is a disclosure (GDPR art. 15(1)(c)): each exported
user's categories (identity, contact, roster, demographics) are recorded for the named
recipient before the bundle is written.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from api.oneroster_csv.bundle import ALL_FILES, FILE_ORDER, HEADERS
from domain.commands import Actor
from domain.record import ACTIVE
from domain.sealing import Sealer
from projections.reads.access import row_dicts
from projections.reads.disclosures import (
    STATUTORY_TASK,
    DisclosureLog,
    user_detail_categories,
)
from projections.reads.unsealing import ERASED_TEXT, Unsealer
from projections.roster import RosterTables

__all__ = ["ExportReport", "export_roster", "write_bundle"]

#: The role a disclosure record names for the recipient of an export.
EXPORT_ROLE = "export"
#: Records whose keys are read with one query (well within the sealer's key cache time).
_KEYS_AT_ONCE = 1_000


@dataclass
class ExportReport:
    """What an export wrote: rows per file, and how many users were erased placeholders."""

    tenant: str
    recipient: str
    files: dict[str, int] = field(default_factory=dict)
    erased_users: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "recipient": self.recipient,
            "files": self.files,
            "erasedUsers": self.erased_users,
        }


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ",".join(_text(v) for v in value)
    return str(value)


def _active(connection: sa.Connection, table: sa.Table, tenant: str) -> list[dict[str, Any]]:
    return row_dicts(
        connection.execute(
            sa.select(table)
            .where(table.c.tenant == tenant, table.c.status == ACTIVE)
            .order_by(table.c.sourced_id)
        )
    )


def _role_id(user: str, role: str, org: str) -> str:
    """A role row's sourcedId: the store keeps roles per (user, role, org), not by id."""
    return str(uuid5(NAMESPACE_URL, f"digione:role:{user}:{role}:{org}"))


class _Files:
    """Each file's CSV text, written row by row as the rows are read (a city's roster is
    never held as rows as well as text)."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = dict.fromkeys(FILE_ORDER, 0)
        self._text = {name: io.StringIO(newline="") for name in FILE_ORDER}
        self._writers = {
            name: csv.writer(text, lineterminator="\r\n") for name, text in self._text.items()
        }

    def add(self, file: str, /, **values: Any) -> None:
        self._writers[file].writerow([_text(values.get(column)) for column in HEADERS[file]])
        self.rows[file] += 1

    def render(self, tenant: str) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        manifest = [
            ("manifest.version", "1.0"),
            ("oneroster.version", "1.2"),
            ("source.systemName", "DigiOne"),
            ("source.systemCode", f"digione:{tenant}"),
        ]
        for name in ALL_FILES:
            present = self.rows.get(name, 0) > 0
            manifest.append((f"file.{name}", "bulk" if present else "absent"))
            if present:
                out[f"{name}.csv"] = _csv(HEADERS[name], []) + self._text[name].getvalue().encode(
                    "utf-8"
                )
        out["manifest.csv"] = _csv(
            ("propertyName", "value"),
            [{"propertyName": k, "value": v} for k, v in manifest],
        )
        return out


def _csv(header: Iterable[str], rows: Iterable[Mapping[str, Any]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    columns = list(header)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_text(row.get(column)) for column in columns])
    return buffer.getvalue().encode("utf-8")


def export_roster(
    *,
    engine: Engine,
    tables: RosterTables,
    sealer: Sealer,
    disclosures: DisclosureLog,
    actor: Actor,
    recipient: str,
) -> tuple[dict[str, bytes], ExportReport]:
    """The bundle's files (name → bytes) of the tenant's active roster, and what was
    written; the export is recorded as disclosed to `recipient` before it is returned."""
    tenant = actor.tenant
    files = _Files()
    report = ExportReport(tenant=tenant, recipient=recipient)
    unsealer = Unsealer(sealer)
    categories: dict[str, set[str]] = {}
    t = tables
    with engine.connect() as c:
        for org in _active(c, t.orgs, tenant):
            files.add(
                "orgs",
                sourcedId=org["sourced_id"],
                name=org["name"],
                type=org["type"],
                identifier=org["identifier"],
                parentSourcedId=org["parent"],
            )
        for s in _active(c, t.academic_sessions, tenant):
            files.add(
                "academicSessions",
                sourcedId=s["sourced_id"],
                title=s["title"],
                type=s["type"],
                startDate=s["start_date"],
                endDate=s["end_date"],
                parentSourcedId=s["parent"],
                schoolYear=s["school_year"],
            )
        for course in _active(c, t.courses, tenant):
            files.add(
                "courses",
                sourcedId=course["sourced_id"],
                schoolYearSourcedId=course["school_year"],
                title=course["title"],
                courseCode=course["course_code"],
                grades=course["grades"],
                orgSourcedId=course["org"],
                subjects=course["subjects"],
                subjectCodes=course["subject_codes"],
            )
        for k in _active(c, t.classes, tenant):
            files.add(
                "classes",
                sourcedId=k["sourced_id"],
                title=k["title"],
                grades=k["grades"],
                courseSourcedId=k["course"],
                classCode=k["class_code"],
                classType=k["class_type"],
                location=k["location"],
                schoolSourcedId=k["school"],
                termSourcedIds=k["terms"],
                subjects=k["subjects"],
                subjectCodes=k["subject_codes"],
                periods=k["periods"],
            )
        users = _active(c, t.users, tenant)
        agents = _agents_both_ways(users)
        for index, user in enumerate(users):
            if index % _KEYS_AT_ONCE == 0:
                unsealer.prefetch(u["personal"] for u in users[index : index + _KEYS_AT_ONCE])
            sid = user["sourced_id"]
            opened = unsealer.open(user["personal"])
            personal: Mapping[str, Any]
            if not isinstance(opened, dict):  # erased (an export's unsealer withholds nothing)
                report.erased_users += 1
                personal = {"givenName": ERASED_TEXT, "familyName": ERASED_TEXT}
            else:
                personal = opened
                categories[sid] = {"roster", *user_detail_categories(opened)}
            files.add(
                "users",
                sourcedId=sid,
                enabledUser=user["enabled_user"],
                username=personal.get("username"),
                userIds=",".join(
                    f"{{{u['type']}:{u['identifier']}}}" for u in personal.get("userIds") or []
                ),
                givenName=personal.get("givenName"),
                familyName=personal.get("familyName"),
                middleName=personal.get("middleName"),
                identifier=personal.get("identifier"),
                email=personal.get("email"),
                sms=personal.get("sms"),
                phone=personal.get("phone"),
                agentSourcedIds=sorted(agents.get(sid, ())),
                grades=user["grades"],
                userMasterIdentifier=personal.get("userMasterIdentifier"),
                preferredGivenName=personal.get("preferredFirstName"),
                preferredMiddleName=personal.get("preferredMiddleName"),
                preferredFamilyName=personal.get("preferredLastName"),
                primaryOrgSourcedId=user["primary_org"],
                pronouns=personal.get("pronouns"),
            )
            for role in user["roles"]:
                files.add(
                    "roles",
                    sourcedId=_role_id(sid, role["role"], role["org"]),
                    userSourcedId=sid,
                    roleType=role["roleType"],
                    role=role["role"],
                    beginDate=role.get("beginDate"),
                    endDate=role.get("endDate"),
                    orgSourcedId=role["org"],
                )
        for e in _active(c, t.enrollments, tenant):
            files.add(
                "enrollments",
                sourcedId=e["sourced_id"],
                classSourcedId=e["class_sourced_id"],
                schoolSourcedId=e["school"],
                userSourcedId=e["user_sourced_id"],
                role=e["role"],
                primary=e["primary"],
                beginDate=e["begin_date"],
                endDate=e["end_date"],
            )
        demographics = _active(c, t.demographics, tenant)
        for index, d in enumerate(demographics):
            if index % _KEYS_AT_ONCE == 0:
                unsealer.prefetch(
                    r["personal"] for r in demographics[index : index + _KEYS_AT_ONCE]
                )
            opened = unsealer.open(d["personal"])
            if not isinstance(opened, dict):
                continue  # erased: nothing of it is written
            categories.setdefault(d["sourced_id"], set()).add("demographics")
            files.add("demographics", sourcedId=d["sourced_id"], **opened)
    _disclose(disclosures, actor, recipient, categories)
    report.files = dict(files.rows)
    return files.render(tenant), report


def _agents_both_ways(users: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Each user's agents as OneRoster has them: the links kept on a user, and the users
    that keep a link to them (a guardian's agents are their students)."""
    agents: dict[str, set[str]] = {}
    for user in users:
        for agent in user["agents"] or []:
            agents.setdefault(user["sourced_id"], set()).add(agent)
            agents.setdefault(agent, set()).add(user["sourced_id"])
    return agents


def _disclose(
    disclosures: DisclosureLog, actor: Actor, recipient: str, categories: dict[str, set[str]]
) -> None:
    by_categories: dict[frozenset[str], list[str]] = {}
    for subject, cats in categories.items():
        by_categories.setdefault(frozenset(cats), []).append(subject)
    for shared, subjects in by_categories.items():
        disclosures.record(
            tenant=actor.tenant,
            subjects=subjects,
            recipient=recipient,
            recipient_role=EXPORT_ROLE,
            categories=shared,
            basis=STATUTORY_TASK,
        )


def write_bundle(files: Mapping[str, bytes], out: Path) -> None:
    """Writes the files as a zip (OUT ends with .zip) or into a folder."""
    if out.suffix.lower() == ".zip":
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in sorted(files.items()):
                archive.writestr(name, data)
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out / name).write_bytes(data)


def zip_bytes(files: Mapping[str, bytes]) -> bytes:
    """The files as the bytes of a zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    return buffer.getvalue()
