"""Reading a roster read model back, and what it should hold according to the event store."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.domain import Aggregate
from sqlalchemy.engine import Engine

from api.settings import Settings
from domain.application import TenantApplication
from domain.roster import AcademicSession, Course, Demographics, Enrollment, Org, SchoolClass, User
from domain.sealing import SealedValue
from projections.roster import IGNORED_EVENT_TYPES, RosterProjection
from streams import positions as relay_positions
from streams.event_types import by_topic

ReadModel = dict[str, list[dict[str, Any]]]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        # PostgreSQL gives aware datetimes, SQLite naive ones in UTC: compare in UTC.
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    plain = [{k: _plain(v) for k, v in row.items()} for row in rows]
    return sorted(plain, key=lambda r: repr(sorted(r.items())))


def read_model(engine: Engine, projection: RosterProjection, tenant: str) -> ReadModel:
    """Every row of the tenant in every table of the projection, comparable across backends."""
    result: ReadModel = {}
    with engine.connect() as connection:
        for table in projection.tables.all():
            rows = connection.execute(sa.select(table).where(table.c.tenant == tenant))
            result[table.name.removeprefix(projection.name + "_")] = _rows(
                [dict(r._mapping) for r in rows]
            )
    return result


def _sealed(value: SealedValue) -> dict[str, str]:
    import base64

    return {
        "subject": str(value.subject),
        "retention": value.retention.value,
        "nonce": base64.b64encode(value.nonce).decode(),
        "ciphertext": base64.b64encode(value.ciphertext).decode(),
    }


def _role(role: dict[str, Any]) -> dict[str, Any]:
    return {
        "roleType": role["role_type"],
        "role": role["role"],
        "org": role["org"],
        "beginDate": _plain(role["begin_date"]),
        "endDate": _plain(role["end_date"]),
    }


def expected_read_model(app: TenantApplication) -> ReadModel:
    """The roster read model as the aggregates in the store say it should be."""
    tenant = app.tenant
    modified: dict[UUID, datetime] = {}
    # A parent (org, academic session) changes when a child joins or leaves it: by the
    # kind of tree and the parent's sourcedId, when that last happened.
    parents: dict[UUID, str | None] = {}
    children_changed: dict[tuple[str, str], datetime] = {}
    for notification in app.recorder.select_notifications(1, limit=1_000_000):
        event = cast(Aggregate.Event, app.mapper.to_domain_event(notification))
        type_name = by_topic()[notification.topic].type_name
        if type_name not in IGNORED_EVENT_TYPES:
            modified[event.originator_id] = event.timestamp
        tree = type_name.split(".")[3]
        if tree in ("org", "academic_session") and hasattr(event, "parent"):
            before, after = parents.get(event.originator_id), event.parent
            parents[event.originator_id] = after
            if before != after:
                for parent in {before, after} - {None}:
                    children_changed[(tree, str(parent))] = event.timestamp
    model: ReadModel = defaultdict(list)
    for aggregate_id, last_modified in modified.items():
        aggregate: Any = app.repository.get(aggregate_id)
        tree = "org" if isinstance(aggregate, Org) else "academic_session"
        last_modified = max(
            last_modified, children_changed.get((tree, aggregate.sourced_id), last_modified)
        )
        row: dict[str, Any] = {
            "tenant": tenant,
            "sourced_id": aggregate.sourced_id,
            "status": aggregate.status,
            "date_last_modified": last_modified,
            "aggregate_id": str(aggregate_id),
        }
        if isinstance(aggregate, Org):
            model["orgs"].append(
                row
                | {
                    "name": aggregate.name,
                    "type": aggregate.org_type,
                    "identifier": aggregate.identifier,
                    "parent": aggregate.parent,
                }
            )
        elif isinstance(aggregate, AcademicSession):
            model["academic_sessions"].append(
                row
                | {
                    "title": aggregate.title,
                    "type": aggregate.session_type,
                    "start_date": aggregate.start_date,
                    "end_date": aggregate.end_date,
                    "parent": aggregate.parent,
                    "school_year": aggregate.school_year,
                }
            )
        elif isinstance(aggregate, Course):
            model["courses"].append(
                row
                | {
                    "title": aggregate.title,
                    "course_code": aggregate.course_code,
                    "school_year": aggregate.school_year,
                    "org": aggregate.org,
                    "grades": aggregate.grades,
                    "subjects": aggregate.subjects,
                    "subject_codes": aggregate.subject_codes,
                }
            )
        elif isinstance(aggregate, SchoolClass):
            d = aggregate.details
            model["classes"].append(
                row
                | {
                    "title": d.title,
                    "class_code": d.class_code,
                    "class_type": d.class_type,
                    "location": d.location,
                    "grades": d.grades,
                    "subjects": d.subjects,
                    "subject_codes": d.subject_codes,
                    "periods": d.periods,
                    "course": aggregate.course,
                    "school": aggregate.school,
                    "terms": aggregate.terms,
                }
            )
            model["class_terms"] += [
                {"tenant": tenant, "class_sourced_id": aggregate.sourced_id, "term": term}
                for term in dict.fromkeys(aggregate.terms)
            ]
        elif isinstance(aggregate, User):
            model["users"].append(
                row
                | {
                    "enabled_user": aggregate.enabled,
                    "primary_org": aggregate.primary_org,
                    "grades": aggregate.grades,
                    "roles": [_role(r) for r in aggregate.roles.values()],
                    "agents": aggregate.guardians,
                    "personal": _sealed(aggregate.personal),
                }
            )
            model["user_roles"] += [
                {
                    "tenant": tenant,
                    "user_sourced_id": aggregate.sourced_id,
                    "role": r["role"],
                    "org": r["org"],
                    "role_type": r["role_type"],
                    "begin_date": r["begin_date"],
                    "end_date": r["end_date"],
                }
                for r in aggregate.roles.values()
            ]
            model["user_agents"] += [
                {"tenant": tenant, "user_sourced_id": aggregate.sourced_id, "agent": g}
                for g in aggregate.guardians
            ]
        elif isinstance(aggregate, Enrollment):
            model["enrollments"].append(
                row
                | {
                    "user_sourced_id": aggregate.user,
                    "class_sourced_id": aggregate.school_class,
                    "school": aggregate.school,
                    "role": aggregate.role,
                    "primary": aggregate.primary,
                    "begin_date": aggregate.begin_date,
                    "end_date": aggregate.end_date,
                }
            )
        elif isinstance(aggregate, Demographics):
            model["demographics"].append(row | {"personal": _sealed(aggregate.personal)})
    tables = RosterProjection().tables.all()
    return {
        t.name.removeprefix("roster_"): _rows(model.get(t.name.removeprefix("roster_"), []))
        for t in tables
    }


def backend_engine(request: Any, directory: Path) -> Engine:
    """An engine of the backend a fixture parametrised with "sqlite" and "postgres" is for
    (the test database, or a SQLite file in `directory`), with the relay's tables."""
    postgres = (
        request.getfixturevalue("postgres_database_url") if request.param == "postgres" else None
    )
    settings = Settings.explicit(database_url=postgres, data_dir=directory)
    built = sa.create_engine(settings.sqlalchemy_url)
    relay_positions.create_tables(built)
    return built
