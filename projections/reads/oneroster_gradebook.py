"""OneRoster 1.2 gradebook reads for service clients: line items, results, categories and
score scales of the roster read model, limited by the client's agreement, with the
rostering reads' filter, sort, paging and fields machinery.

The line items and results are the roster read model's (projections/roster.py), which
keeps OneRoster's dateLastModified. Each entity is a selectable over the read model (the tenant, the agreement's schools and
`status = active` AND-ed inside it, so no filter widens access; deleted items leave the
collections): line items with their class's school; the current result of each student and
line item; categories as the distinct categories the visible line items use; score scales
as the built-in Finnish scales (4–10 and S/H), one pair per class, as OneRoster scales
belong to a class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from domain.assessment import FINNISH_GRADES
from domain.sealing import Sealer
from projections.reads.access import (
    ReadNotPermittedError,
    RosterRecordNotFoundError,
    read_connection,
    row_dicts,
)
from projections.reads.disclosures import STATUTORY_TASK
from projections.reads.oneroster_consent import TOBEDELETED, consent_view, current_consents
from projections.reads.oneroster_fields import (
    FieldCatalogue,
    InvalidFilterFieldError,
    _compare,
    _Field,
    day,
    json_list,
    moment,
    text,
)
from projections.reads.oneroster_rostering import (
    CONSENT_BASIS,
    MAX_LIMIT,
    ClientView,
    InvalidSelectionFieldError,
    Page,
    RosterQuery,
    _utc_text,
    client_clauses,
)
from projections.reads.page_cursors import PageCursors, in_sourced_id_order, past
from projections.reads.read_service import ReadService
from projections.reads.unsealing import Unsealer
from projections.roster import RosterProjection

__all__ = [
    "GRADEBOOK_READ",
    "GRADEBOOK_SELECTABLE",
    "SCORE_SCALES",
    "GradebookReads",
    "GradebookSelection",
]

GRADEBOOK_READ = frozenset({"gradebook.readonly", "gradebook-core.readonly"})
_BASE = ("sourcedId", "status", "dateLastModified", "metadata")
#: Every property of each gradebook entity in the official OpenAPI file.
GRADEBOOK_SELECTABLE: dict[str, frozenset[str]] = {
    "lineItem": frozenset(
        {
            *_BASE,
            "title",
            "description",
            "assignDate",
            "dueDate",
            "class",
            "school",
            "category",
            "gradingPeriod",
            "academicSession",
            "scoreScale",
            "resultValueMin",
            "resultValueMax",
            "learningObjectiveSet",
        }
    ),
    "result": frozenset(
        {
            *_BASE,
            "lineItem",
            "student",
            "class",
            "scoreScale",
            "scoreStatus",
            "score",
            "textScore",
            "scoreDate",
            "comment",
            "learningObjectiveSet",
            "inProgress",
            "incomplete",
            "late",
            "missing",
        }
    ),
    "category": frozenset({*_BASE, "title", "weight"}),
    "scoreScale": frozenset({*_BASE, "title", "type", "course", "class", "scoreScaleValue"}),
}
#: The built-in score scales: (suffix of the sourcedId, title, values).
SCORE_SCALES: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "fi-4-10",
        "Finnish grades 4–10",
        tuple(
            (grade, label)
            for grade, label in zip(
                FINNISH_GRADES,
                ("hylätty", "välttävä", "kohtalainen", "tyydyttävä", "hyvä", "kiitettävä",
                 "erinomainen"),
                strict=False,
            )
        ),
    ),
    ("fi-s-h", "Finnish pass/fail (S/H)", (("S", "hyväksytty"), ("H", "hylätty"))),
)  # fmt: skip
#: Where a reference of each type points, under the rostering or gradebook base URL.
_ROSTER_TYPES = frozenset({"org", "class", "user", "academicSession", "course"})
_PATH_OF_TYPE = {
    "org": "orgs",
    "class": "classes",
    "user": "users",
    "academicSession": "academicSessions",
    "course": "courses",
    "lineItem": "lineItems",
    "category": "categories",
    "scoreScale": "scoreScales",
}

Where = Callable[[Subquery], Iterable[ColumnElement[bool]]]


def _everything(_source: Subquery) -> Iterable[ColumnElement[bool]]:
    return ()


@dataclass(frozen=True)
class GradebookSelection:
    """What an endpoint reads: an entity, a condition of its own, and the class that must
    be visible (`/classes/{id}/lineItems` of a class the caller cannot see is unknown)."""

    entity: str
    where: Where = _everything
    parent_class: str | None = None
    parent_school: str | None = None

    @property
    def whole(self) -> bool:
        """Whether it is a whole collection (`/results`), not one within a parent's."""
        return (
            self.where is _everything and self.parent_class is None and self.parent_school is None
        )


def _scale_id(class_id: str, suffix: str) -> str:
    return f"{class_id}.{suffix}"


@dataclass(frozen=True, kw_only=True)
class GradebookReads(ReadService[RosterProjection]):
    """The gradebook service's reads; build one per request with the container's parts."""

    #: The rostering base URL (references to classes, users, orgs point there).
    roster_url: str = ""
    #: The sealer of a tenant: a result's verbal assessment (`comment`) opens with it;
    #: without one, comments are not served.
    sealers: Callable[[str], Sealer] | None = None
    #: Where clients' walks through whole collections stand (projections/reads/
    #: page_cursors.py); None: every page counts off its offset.
    cursors: PageCursors | None = None

    # -- the entities as selectables -----------------------------------------------------

    def _classes(self, client: ClientView) -> list[ColumnElement[bool]]:
        c = self.projection.tables.classes
        found: list[ColumnElement[bool]] = [c.c.tenant == client.tenant, c.c.status == "active"]
        if client.schools:
            found.append(c.c.school.in_(sorted(client.schools)))
        return found

    def _line_items(self, client: ClientView) -> Subquery:
        li, c = self.projection.line_items.table, self.projection.tables.classes
        return (
            sa.select(li, c.c.school)
            .join(c, sa.and_(c.c.tenant == li.c.tenant, c.c.sourced_id == li.c.class_sourced_id))
            .where(li.c.tenant == client.tenant, li.c.status == "active", *self._classes(client))
            .subquery("line_items")
        )

    def _results(self, client: ClientView) -> Subquery:
        r, c = self.projection.results.table, self.projection.tables.classes
        li = self.projection.line_items.table
        columns: list[Any] = [r]
        consented: list[ColumnElement[bool]] = []
        if client.basis == CONSENT_BASIS:
            # A student's results reach a consent-based client only through a consent
            # covering `assessment`; once it ends they read `tobedeleted`.
            view = consent_view(
                self.projection.consents.table,
                tenant=client.tenant,
                service=client.service,
                purpose=client.purpose,
                subject=r.c.student,
                category="assessment",
                status=r.c.status,
                date_last_modified=r.c.date_last_modified,
            )
            columns = [
                *(col for col in r.c if col.name not in ("status", "date_last_modified")),
                view.status.label("status"),
                view.date_last_modified.label("date_last_modified"),
            ]
            consented.append(view.visible)
        return (
            sa.select(*columns, c.c.school)
            .join(c, sa.and_(c.c.tenant == r.c.tenant, c.c.sourced_id == r.c.class_sourced_id))
            .where(
                *consented,
                r.c.tenant == client.tenant,
                r.c.status == "active",
                sa.or_(r.c.current, r.c.line_item.is_(None)),
                # A deleted line item takes its results out of the collections too.
                sa.or_(
                    r.c.line_item.is_(None),
                    sa.exists().where(
                        li.c.tenant == r.c.tenant,
                        li.c.sourced_id == r.c.line_item,
                        li.c.status == "active",
                    ),
                ),
                *self._classes(client),
            )
            .subquery("results")
        )

    def _categories(self, client: ClientView) -> Subquery:
        """The categories services (or the school) defined, and those the visible line
        items name without a definition (titled by their name)."""
        items = self._line_items(client)
        k = self.projection.categories.table
        active = (k.c.tenant == client.tenant, k.c.status == "active")
        defined = sa.select(
            k.c.sourced_id,
            k.c.status,
            k.c.date_last_modified,
            k.c.title,
            k.c.weight,
            sa.cast(sa.null(), k.c.sourced_id.type).label("class_sourced_id"),
            sa.cast(sa.null(), k.c.sourced_id.type).label("school"),
        ).where(*active)
        named = (
            sa.select(
                items.c.category.label("sourced_id"),
                sa.literal("active").label("status"),
                sa.func.max(items.c.date_last_modified).label("date_last_modified"),
                items.c.category.label("title"),
                sa.cast(sa.null(), k.c.weight.type).label("weight"),
                sa.func.min(items.c.class_sourced_id).label("class_sourced_id"),
                sa.func.min(items.c.school).label("school"),
            )
            .where(items.c.category.not_in(sa.select(k.c.sourced_id).where(*active)))
            .group_by(items.c.category)
        )
        return sa.union_all(defined, named).subquery("categories")

    def _score_scales(self, client: ClientView) -> Subquery:
        """The built-in Finnish scales of each visible class, and the scales services (or
        its teachers) defined for it."""
        c = self.projection.tables.classes
        ss = self.projection.score_scales.table
        no_values = sa.cast(sa.null(), ss.c["values"].type)
        selects = [
            sa.select(
                (c.c.sourced_id + sa.literal(f".{suffix}")).label("sourced_id"),
                sa.literal("active").label("status"),
                c.c.date_last_modified,
                sa.literal(title).label("title"),
                sa.literal(suffix).label("scale"),
                c.c.sourced_id.label("class_sourced_id"),
                c.c.course,
                c.c.school,
                no_values.label("values"),
                no_values.label("meanings"),
            ).where(*self._classes(client))
            for suffix, title, _values in SCORE_SCALES
        ]
        defined = (
            sa.select(
                ss.c.sourced_id,
                ss.c.status,
                ss.c.date_last_modified,
                ss.c.title,
                ss.c.scale_type.label("scale"),
                ss.c.class_sourced_id,
                sa.func.coalesce(ss.c.course, c.c.course).label("course"),
                c.c.school,
                ss.c["values"],
                ss.c.meanings,
            )
            .join(c, sa.and_(c.c.tenant == ss.c.tenant, c.c.sourced_id == ss.c.class_sourced_id))
            .where(ss.c.tenant == client.tenant, ss.c.status == "active", *self._classes(client))
        )
        return sa.union_all(*selects, defined).subquery("score_scales")

    def _source(self, client: ClientView, entity: str) -> Subquery:
        return {
            "lineItem": self._line_items,
            "result": self._results,
            "category": self._categories,
            "scoreScale": self._score_scales,
        }[entity](client)

    # -- reads ---------------------------------------------------------------------------

    def page(
        self,
        client: ClientView,
        selection: GradebookSelection,
        query: RosterQuery,
        *,
        scopes: frozenset[str],
        base_url: str,
    ) -> Page:
        """A page of the collection `selection` names, as `query` asks."""
        self._authorise(client, scopes)
        fields = _fields(selection.entity, query.fields)
        source = self._source(client, selection.entity)
        catalogue = _Catalogue(selection.entity, source)
        conditions = list(selection.where(source))
        filtered, order = client_clauses(catalogue, selection.entity, query, source.c.sourced_id)
        conditions.extend(filtered)
        limit = min(query.limit, MAX_LIMIT)
        # A walk through a whole collection in sourcedId order can seek (page_cursors.py).
        whole = (client, selection.entity, query.filter, query.order_by)
        walkable = selection.whole and in_sourced_id_order(query.sort)
        cursors = self.cursors if walkable else None
        with read_connection(self.engine) as c:
            self._require_parent(c, client, selection)
            walk = None
            if cursors is not None:
                tenant, name = client.tenant, self.projection.name
                walk = cursors.page(c, whole, query.offset, projection=name, tenant=tenant)
            if walk is not None and walk.mark is not None:
                count = walk.mark.total
                seek = past(source.c.sourced_id, walk.mark.after, query.order_by)
                page = sa.select(source).where(*conditions, seek).order_by(*order)
            else:
                total = c.execute(sa.select(sa.func.count()).select_from(source).where(*conditions))
                count = int(total.scalar_one())
                page = sa.select(source).where(*conditions).order_by(*order).offset(query.offset)
            rows = row_dicts(c.execute(page.limit(limit)))
            if walk is not None:
                walk.read(rows, limit=limit, total=count)
            unsealer = self._unsealer(client)
            records = [
                self._shape(selection.entity, row, fields, base_url, unsealer) for row in rows
            ]
        self._disclose_results(client, selection.entity, records)
        return Page(records=records, total=count, limit=limit, offset=query.offset)

    def record(
        self,
        client: ClientView,
        entity: str,
        sourced_id: str,
        *,
        fields: tuple[str, ...] | None,
        scopes: frozenset[str],
        base_url: str,
    ) -> dict[str, Any]:
        """One record; RosterRecordNotFoundError when the caller may not see it, it is
        deleted, or there is none (the same answer: it tells nothing)."""
        self._authorise(client, scopes)
        selected = _fields(entity, fields)
        source = self._source(client, entity)
        with read_connection(self.engine) as c:
            row = c.execute(sa.select(source).where(source.c.sourced_id == sourced_id)).first()
        if row is None:
            raise RosterRecordNotFoundError(f"there is no {entity} {sourced_id!r}")
        record = self._shape(entity, dict(row._mapping), selected, base_url, self._unsealer(client))
        self._disclose_results(client, entity, [record])
        return record

    def class_of_line_item(self, client: ClientView, sourced_id: str) -> str | None:
        """The class of a line item the caller can see; None when it cannot."""
        items = self._line_items(client)
        with read_connection(self.engine) as c:
            found = c.execute(
                sa.select(items.c.class_sourced_id).where(items.c.sourced_id == sourced_id)
            ).scalar()
        return None if found is None else str(found)

    # -- authorise, parents, disclose ----------------------------------------------------

    @staticmethod
    def _authorise(client: ClientView, scopes: frozenset[str]) -> None:
        if not client.scopes & scopes:
            raise ReadNotPermittedError(
                f"this request needs one of the scopes {sorted(scopes)}, which the client's "
                "agreement does not grant"
            )

    def _require_parent(self, c: Any, client: ClientView, selection: GradebookSelection) -> None:
        classes = self.projection.tables.classes
        if selection.parent_class is not None:
            found = c.execute(
                sa.select(classes.c.sourced_id).where(
                    *self._classes(client), classes.c.sourced_id == selection.parent_class
                )
            ).first()
            if found is None:
                raise RosterRecordNotFoundError(f"there is no class {selection.parent_class!r}")
        if selection.parent_school is not None:
            school = selection.parent_school
            if client.schools and school not in client.schools:
                raise RosterRecordNotFoundError(f"there is no school {school!r}")
            found = c.execute(
                sa.select(classes.c.sourced_id).where(
                    classes.c.tenant == client.tenant, classes.c.school == school
                )
            ).first()
            if found is None:
                raise RosterRecordNotFoundError(f"there is no school {school!r} with classes")

    def _disclose_results(
        self, client: ClientView, entity: str, records: list[dict[str, Any]]
    ) -> None:
        """A result is a student's assessment: what was handed out of whom is recorded."""
        if entity != "result":
            return
        students = sorted(
            {
                r["student"]["sourcedId"]
                for r in records
                if isinstance(r.get("student"), dict) and r.get("status") != TOBEDELETED
            }
        )
        bases: dict[str, list[str]] = {}
        if client.basis == CONSENT_BASIS:
            with read_connection(self.engine) as c:
                granted = current_consents(
                    c, self.projection.consents.table, tenant=client.tenant,
                    service=client.service, purpose=client.purpose, students=students,
                )  # fmt: skip
            for student in students:
                if "assessment" in granted.get(student, {}):
                    bases.setdefault(granted[student]["assessment"], []).append(student)
        elif students:
            bases[STATUTORY_TASK] = students
        for basis, subjects in bases.items():
            self.disclosures.record(
                tenant=client.tenant,
                subjects=subjects,
                recipient=client.service,
                recipient_role=client.role,
                categories=["assessment"],
                basis=basis,
                at=self.clock(),
            )

    # -- shape ---------------------------------------------------------------------------

    def _unsealer(self, client: ClientView) -> Unsealer | None:
        return None if self.sealers is None else Unsealer(self.sealers(client.tenant))

    def _shape(
        self,
        entity: str,
        row: Mapping[str, Any],
        fields: frozenset[str],
        base_url: str,
        unsealer: Unsealer | None = None,
    ) -> dict[str, Any]:
        def ref(kind: str, sourced_id: str | None) -> dict[str, str] | None:
            if sourced_id is None:
                return None
            base = self.roster_url if kind in _ROSTER_TYPES else base_url
            return {
                "href": f"{base}/{_PATH_OF_TYPE[kind]}/{sourced_id}",
                "sourcedId": sourced_id,
                "type": kind,
            }

        record: dict[str, Any] = {
            "sourcedId": row["sourced_id"],
            "status": row["status"],
            "dateLastModified": _utc_text(row["date_last_modified"]),
        }
        if entity == "lineItem":
            record.update(
                title=row["title"],
                assignDate=_utc_text(row["assign_date"]),
                dueDate=_utc_text(row["due_date"]),
                **{"class": ref("class", row["class_sourced_id"])},
                school=ref("org", row["school"]),
                category=ref("category", row["category"]),
                gradingPeriod=ref("academicSession", row["grading_period"]),
                resultValueMin=row["result_min"],
                resultValueMax=row["result_max"],
                learningObjectiveSet=_objectives(row["objectives"]),
            )
        elif entity == "result":
            grade = row["grade"]
            scale = None
            if grade is not None:
                suffix = "fi-4-10" if grade in FINNISH_GRADES else "fi-s-h"
                scale = ref("scoreScale", _scale_id(row["class_sourced_id"], suffix))
            record.update(
                lineItem=ref("lineItem", row["line_item"]),
                student=ref("user", row["student"]),
                **{"class": ref("class", row["class_sourced_id"])},
                scoreScale=scale,
                scoreStatus=row["score_status"],
                score=row["score"],
                textScore=grade,
                scoreDate=row["assessed_at"].isoformat(),
                late="true" if row["late"] else "false",
                learningObjectiveSet=_objectives(row["objectives"]),
            )
            if "comment" in fields and unsealer is not None:
                # The verbal assessment, sealed under the student's key; an erased one reads
                # "erased" (its ciphertext is gone).
                record["comment"] = unsealer.text(row["comment"], "comment")
            if row["status"] == TOBEDELETED:
                # The consent that let the client see it has ended: only the notice stays.
                for withheld in ("score", "textScore", "scoreScale", "learningObjectiveSet"):
                    record.pop(withheld)
                record.pop("comment", None)
        elif entity == "category":
            record.update(title=row["title"], weight=row["weight"])
        else:
            values = (
                next(v for s, _t, v in SCORE_SCALES if s == row["scale"])
                if row["values"] is None
                else tuple(zip(row["values"], row["meanings"], strict=True))
            )
            record.update(
                title=row["title"],
                type=row["scale"],
                course=ref("course", row["course"]),
                **{"class": ref("class", row["class_sourced_id"])},
                scoreScaleValue=[{"itemValueLHS": v, "itemValueRHS": label} for v, label in values],
            )
        return {k: v for k, v in record.items() if k in fields and v is not None}


def _objectives(codes: Any) -> list[dict[str, Any]] | None:
    if not codes:
        return None
    return [{"source": "system", "learningObjectiveIds": list(codes)}]


def _fields(entity: str, fields: tuple[str, ...] | None) -> frozenset[str]:
    known = GRADEBOOK_SELECTABLE[entity]
    if fields is None:
        return known
    unknown = [f for f in fields if f not in known]
    if unknown or not fields:
        raise InvalidSelectionFieldError(
            f"fields names {unknown or 'nothing'}, not fields of {entity}; "
            f"known: {', '.join(sorted(known))}"
        )
    return frozenset(fields)


class _Catalogue(FieldCatalogue):
    """The filterable and sortable fields of one gradebook entity over its selectable."""

    def __init__(self, entity: str, s: Subquery) -> None:
        self._lookup = None
        self._visible = frozenset()
        base = {
            "sourcedId": text(s.c.sourced_id),
            "status": text(s.c.status),
            "dateLastModified": moment(s.c.date_last_modified),
        }
        fields: dict[str, _Field] = dict(base)
        if entity == "lineItem":
            fields.update(
                {
                    "title": text(s.c.title),
                    "assignDate": moment(s.c.assign_date),
                    "dueDate": moment(s.c.due_date),
                    "class.sourcedId": text(s.c.class_sourced_id),
                    "school.sourcedId": text(s.c.school),
                    "category.sourcedId": text(s.c.category),
                    "gradingPeriod.sourcedId": text(s.c.grading_period),
                    "resultValueMin": _number(s.c.result_min),
                    "resultValueMax": _number(s.c.result_max),
                    "learningObjectiveSet": json_list(s.c.objectives),
                }
            )
        elif entity == "result":
            fields.update(
                {
                    "lineItem.sourcedId": text(s.c.line_item),
                    "student.sourcedId": text(s.c.student),
                    "class.sourcedId": text(s.c.class_sourced_id),
                    "scoreStatus": text(s.c.score_status),
                    "score": _number(s.c.score),
                    "textScore": text(s.c.grade),
                    "scoreDate": day(s.c.assessed_at),
                }
            )
        elif entity == "category":
            fields["title"] = text(s.c.title)
            fields["weight"] = _number(s.c.weight)
        else:
            fields.update(
                {
                    "title": text(s.c.title),
                    "type": text(s.c.scale),
                    "class.sourcedId": text(s.c.class_sourced_id),
                    "course.sourcedId": text(s.c.course),
                }
            )
        self._builders = {}
        self._built = {entity: fields}


def _number(column: ColumnElement[Any]) -> _Field:
    def condition(op: str, value: str) -> ColumnElement[bool]:
        try:
            number = float(value)
        except ValueError:
            raise InvalidFilterFieldError(f"{value!r} is not a number") from None
        return _compare(column, op, number)

    return _Field(condition, column)
