"""The tenant application: validates commands, decides, seals personal data, saves events.

One instance serves one tenant (municipality) and owns that tenant's event store, whose
tables live in the tenant's own SQLite file or PostgreSQL schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, timezone
from typing import Any, TypeVar
from uuid import UUID, uuid4, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from domain import retention
from domain.assessment import FINNISH_GRADES, SCORE_STATUSES, LineItem, Result
from domain.attainment import ATTAINMENT_LEVELS, ObjectiveAttainment
from domain.commands import (
    Actor,
    GrantConsent,
    Outcome,
    PutAcademicSession,
    PutClass,
    PutCourse,
    PutDemographics,
    PutEnrollment,
    PutLineItem,
    PutOrg,
    PutUser,
    RecordAssessment,
    RecordAttainment,
)
from domain.consent import AGE_OF_MAJORITY, DATA_CATEGORIES, DIGITAL_CONSENT_AGE, Consent, age_on
from domain.curriculum import Curriculum, UnknownObjectiveError
from domain.errors import (
    ConcurrentUpdateError,
    ConflictError,
    ConsentNotAllowedError,
    InvalidValueError,
    NotFoundError,
    NotPermittedError,
    UnknownReferenceError,
)
from domain.ids import DIGIONE_NAMESPACE, aggregate_id, is_valid_sourced_id
from domain.record import SourcedRecord
from domain.roster import (
    ENROLLMENT_ROLES,
    ORG_TYPES,
    SESSION_TYPES,
    USER_ROLES,
    AcademicSession,
    Course,
    Demographics,
    Enrollment,
    Org,
    SchoolClass,
    User,
    is_extension,
)
from domain.privacy import Erasure, TenantOffboarding
from domain.sealing import Erased, RetentionClass, Sealer
from domain.tenant_tables import TenantTables
from domain.transcodings import DateAsISO, SealedValueAsDict

A = TypeVar("A", bound=Aggregate)

#: Collections of the roster command API and the aggregate class holding each.
ROSTER_COLLECTIONS: dict[str, type[SourcedRecord]] = {
    "orgs": Org,
    "academicSessions": AcademicSession,
    "courses": Course,
    "classes": SchoolClass,
    "users": User,
    "enrollments": Enrollment,
    "demographics": Demographics,
}
LINE_ITEMS = "lineItems"
RESULTS = "results"
ATTAINMENTS = "attainments"
CONSENTS = "consents"
ERASURES = "erasures"

_SERVICE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_PURPOSE = re.compile(r"^[a-z][a-z0-9-]{1,40}$")


class TenantApplication(Application[UUID]):
    """The command side of one tenant."""

    name = "DigiOneTenant"

    def __init__(
        self,
        *,
        tenant: str,
        env: dict[str, str],
        master_key: bytes,
        curriculum: Curriculum,
        fallback_master_keys: tuple[bytes, ...] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        postgres_schema: str | None = None,
        key_cache_seconds: float = 30.0,
    ) -> None:
        super().__init__(env)
        self.tenant = tenant
        self.clock = clock
        self.curriculum = curriculum
        datastore = getattr(self.factory, "datastore")
        self.tables = TenantTables(datastore, postgres_schema=postgres_schema)
        self.tables.create_tables()
        #: Called with the position after each save (the relay's wake-up, for instance).
        self.after_save: list[Callable[[int], None]] = []
        self.sealer = Sealer(
            tenant=tenant,
            master_key=master_key,
            fallback_master_keys=fallback_master_keys,
            key_store=self.tables,
            key_cache_seconds=key_cache_seconds,
        )

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
        transcoder.register(SealedValueAsDict())

    # -- roster ----------------------------------------------------------------------------

    def put_org(self, actor: Actor, command: PutOrg) -> Outcome:
        self._require_roster_writer(actor)
        _require_enum("type", command.org_type, ORG_TYPES)
        _require_text("name", command.name)
        if command.parent is not None:
            if command.parent == command.sourced_id:
                raise InvalidValueError("an org cannot be its own parent", field="parent")
            self._require(Org, "orgs", command.parent, "parent")
        fields = dict(
            name=command.name,
            org_type=command.org_type,
            identifier=command.identifier,
            parent=command.parent,
        )
        return self._put(Org, "orgs", command.sourced_id, command.status, fields)

    def put_academic_session(self, actor: Actor, command: PutAcademicSession) -> Outcome:
        self._require_roster_writer(actor)
        _require_enum("type", command.session_type, SESSION_TYPES)
        _require_text("title", command.title)
        if command.end_date < command.start_date:
            raise InvalidValueError("endDate is before startDate", field="endDate")
        if command.parent is not None:
            self._require(AcademicSession, "academicSessions", command.parent, "parent")
        fields = dict(
            title=command.title,
            session_type=command.session_type,
            start_date=command.start_date,
            end_date=command.end_date,
            parent=command.parent,
            school_year=command.school_year,
        )
        return self._put(
            AcademicSession, "academicSessions", command.sourced_id, command.status, fields
        )

    def put_course(self, actor: Actor, command: PutCourse) -> Outcome:
        self._require_roster_writer(actor)
        _require_text("title", command.title)
        _require_text("courseCode", command.course_code)
        if command.org is not None:
            self._require(Org, "orgs", command.org, "org")
        if command.school_year is not None:
            self._require(AcademicSession, "academicSessions", command.school_year, "schoolYear")
        fields = dict(
            title=command.title,
            course_code=command.course_code,
            school_year=command.school_year,
            org=command.org,
            grades=command.grades,
            subjects=command.subjects,
            subject_codes=command.subject_codes,
        )
        return self._put(Course, "courses", command.sourced_id, command.status, fields)

    def put_class(self, actor: Actor, command: PutClass) -> Outcome:
        self._require_roster_writer(actor)
        _require_text("title", command.details.title)
        if command.details.class_type is not None:
            _require_enum("classType", command.details.class_type, {"homeroom", "scheduled"})
        self._require(Course, "courses", command.course, "course")
        school = self._require(Org, "orgs", command.school, "school")
        if school.org_type != "school":
            raise InvalidValueError(
                f"school {command.school!r} is an org of type {school.org_type!r}, not a school",
                field="school",
            )
        if not command.terms:
            raise InvalidValueError("a class needs at least one term", field="terms")
        for term in command.terms:
            self._require(AcademicSession, "academicSessions", term, "terms")
        existing = self._find(SchoolClass, "classes", command.sourced_id)
        if existing is None:
            school_class = SchoolClass.register(
                self._id("classes", command.sourced_id),
                sourced_id=command.sourced_id,
                course=command.course,
                school=command.school,
                terms=command.terms,
                **command.details.__dict__,
            )
        else:
            school_class = existing
            school_class.revise(
                details=command.details,
                course=command.course,
                school=command.school,
                terms=command.terms,
            )
        school_class.set_status(command.status)
        return self._outcome(command.sourced_id, existing is None, school_class)

    def put_user(self, actor: Actor, command: PutUser) -> Outcome:
        self._require_roster_writer(actor)
        if not command.roles:
            raise InvalidValueError("a user needs at least one role", field="roles")
        for role in command.roles:
            _require_enum("roles.role", role.role, USER_ROLES)
            _require_enum("roles.roleType", role.role_type, {"primary", "secondary"})
            self._require(Org, "orgs", role.org, "roles.org")
        if command.primary_org is not None:
            self._require(Org, "orgs", command.primary_org, "primaryOrg")
        for name in ("givenName", "familyName"):
            if not str(command.personal.get(name) or "").strip():
                raise InvalidValueError(f"{name} is required and cannot be empty", field=name)
        for guardian_id in command.guardians:
            if guardian_id == command.sourced_id:
                raise InvalidValueError("a user cannot be their own agent", field="agents")
            self._require(User, "users", guardian_id, "agents")
        user_id = self._id("users", command.sourced_id)
        existing = self._find(User, "users", command.sourced_id)
        if existing is None:
            user = User.register(
                user_id,
                sourced_id=command.sourced_id,
                enabled=command.enabled,
                roles=[r.as_dict() for r in command.roles],
                primary_org=command.primary_org,
                grades=command.grades,
                personal=self.sealer.seal(user_id, retention.USER_DETAILS, command.personal),
            )
            user.revise(
                enabled=command.enabled,
                roles=command.roles,
                primary_org=command.primary_org,
                grades=command.grades,
                guardians=command.guardians,
            )
        else:
            user = existing
            if self.sealer.unseal(user.personal) != _canonical(command.personal):
                user.correct_personal_details(
                    self.sealer.seal(user_id, retention.USER_DETAILS, command.personal)
                )
            user.revise(
                enabled=command.enabled,
                roles=command.roles,
                primary_org=command.primary_org,
                grades=command.grades,
                guardians=command.guardians,
            )
        user.set_status(command.status)
        return self._outcome(command.sourced_id, existing is None, user)

    def put_enrollment(self, actor: Actor, command: PutEnrollment) -> Outcome:
        self._require_roster_writer(actor)
        _require_enum("role", command.role, ENROLLMENT_ROLES)
        user = self._require(User, "users", command.user, "user")
        school_class = self._require(
            SchoolClass, "classes", command.school_class, "class", for_update=True
        )
        self._require(Org, "orgs", command.school, "school")
        if school_class.school != command.school:
            raise InvalidValueError(
                f"class {command.school_class!r} belongs to school {school_class.school!r}, "
                f"not {command.school!r}",
                field="school",
            )
        if command.role in ("student", "teacher") and not user.has_role(command.role):
            raise InvalidValueError(
                f"user {command.user!r} has no {command.role} role; assign it on the user first",
                field="role",
            )
        if (
            command.begin_date is not None
            and command.end_date is not None
            and command.end_date < command.begin_date
        ):
            raise InvalidValueError("endDate is before beginDate", field="endDate")
        existing = self._find(Enrollment, "enrollments", command.sourced_id)
        if existing is None:
            enrollment = Enrollment.register(
                self._id("enrollments", command.sourced_id),
                sourced_id=command.sourced_id,
                user=command.user,
                school_class=command.school_class,
                school=command.school,
                role=command.role,
                primary=command.primary,
                begin_date=command.begin_date,
                end_date=command.end_date,
            )
        else:
            enrollment = existing
            if (enrollment.user, enrollment.school_class, enrollment.role) != (
                command.user, command.school_class, command.role
            ):
                raise ConflictError(
                    f"enrollment {command.sourced_id!r} is of user {enrollment.user!r} in class "
                    f"{enrollment.school_class!r} as {enrollment.role}; an enrollment's user, "
                    "class and role cannot change: end it and start a new one",
                    field="user",
                )
            enrollment.revise(
                primary=command.primary,
                begin_date=command.begin_date,
                end_date=command.end_date,
            )
        enrollment.set_status(command.status)
        if enrollment.is_active:
            school_class.join(
                enrollment=command.sourced_id,
                user=command.user,
                role=command.role,
                begin_date=enrollment.begin_date,
                end_date=enrollment.end_date,
            )
        else:
            school_class.leave(enrollment=command.sourced_id)
        return self._outcome(command.sourced_id, existing is None, enrollment, school_class)

    def put_demographics(self, actor: Actor, command: PutDemographics) -> Outcome:
        self._require_roster_writer(actor)
        # OneRoster: a demographics record has the sourcedId of its user.
        self._require(User, "users", command.sourced_id, "sourcedId")
        birth_date = command.personal.get("birthDate")
        if birth_date is not None:
            try:
                born = date.fromisoformat(str(birth_date))
            except ValueError:
                raise InvalidValueError(
                    "birthDate must be a date as YYYY-MM-DD", field="birthDate"
                ) from None
            if born > self._today():
                raise InvalidValueError("birthDate is in the future", field="birthDate")
        subject = self._id("users", command.sourced_id)
        existing = self._find(Demographics, "demographics", command.sourced_id)
        if existing is None:
            demographics = Demographics.register(
                self._id("demographics", command.sourced_id),
                sourced_id=command.sourced_id,
                personal=self.sealer.seal(subject, retention.DEMOGRAPHICS, command.personal),
            )
        else:
            demographics = existing
            if self.sealer.unseal(demographics.personal) != _canonical(command.personal):
                demographics.correct(
                    self.sealer.seal(subject, retention.DEMOGRAPHICS, command.personal)
                )
        demographics.set_status(command.status)
        return self._outcome(command.sourced_id, existing is None, demographics)

    def mark_for_deletion(self, actor: Actor, collection: str, sourced_id: str) -> Outcome:
        """OneRoster DELETE: the record stays, its status becomes `tobedeleted`."""
        self._require_roster_writer(actor)
        if collection not in ROSTER_COLLECTIONS:
            raise NotFoundError(f"unknown roster collection {collection!r}")
        record = self._find(ROSTER_COLLECTIONS[collection], collection, sourced_id)
        if record is None:
            raise NotFoundError(f"{collection} has no record {sourced_id!r}")
        record.mark_for_deletion()
        touched: list[Aggregate] = [record]
        if isinstance(record, Enrollment):
            school_class = self._require(
                SchoolClass, "classes", record.school_class, "class", for_update=True
            )
            school_class.leave(enrollment=sourced_id)
            touched.append(school_class)
        return self._outcome(sourced_id, False, *touched)

    # -- gradebook -------------------------------------------------------------------------

    def put_line_item(self, actor: Actor, command: PutLineItem) -> Outcome:
        school_class = self._require(SchoolClass, "classes", command.school_class, "class")
        self._require_teacher_of(actor, school_class)
        _require_text("title", command.title)
        _require_text("category", command.category)
        if command.due_date < command.assign_date:
            raise InvalidValueError("dueDate is before assignDate", field="dueDate")
        if (
            command.result_min is not None
            and command.result_max is not None
            and command.result_max <= command.result_min
        ):
            raise InvalidValueError("resultValueMax must exceed resultValueMin", field="resultValueMax")
        self._require_objectives(command.objectives, "learningObjectiveSet")
        if command.grading_period is not None:
            self._require(AcademicSession, "academicSessions", command.grading_period, "gradingPeriod")
        fields = dict(
            title=command.title,
            description=command.description,
            school_class=command.school_class,
            category=command.category,
            assign_date=command.assign_date,
            due_date=command.due_date,
            grading_period=command.grading_period,
            objectives=command.objectives,
            result_min=command.result_min,
            result_max=command.result_max,
        )
        existing = self._find(LineItem, LINE_ITEMS, command.sourced_id)
        if existing is not None and existing.school_class != command.school_class:
            raise ConflictError(
                f"line item {command.sourced_id!r} belongs to class {existing.school_class!r}",
                field="class",
            )
        return self._put(LineItem, LINE_ITEMS, command.sourced_id, command.status, fields)

    def record_assessment(
        self, actor: Actor, command: RecordAssessment, *, idempotency_seed: str | None = None
    ) -> Outcome:
        school_class = self._require(SchoolClass, "classes", command.school_class, "class")
        self._require_teacher_of(actor, school_class, on=command.assessed_at)
        self._require_student_of(command.student, school_class, on=command.assessed_at)
        line_item = None
        if command.line_item is not None:
            line_item = self._require(LineItem, LINE_ITEMS, command.line_item, "lineItem")
            if line_item.school_class != command.school_class:
                raise InvalidValueError(
                    f"line item {command.line_item!r} belongs to class {line_item.school_class!r}",
                    field="lineItem",
                )
        if command.grade is not None and command.grade not in FINNISH_GRADES:
            raise InvalidValueError(
                f"grade {command.grade!r} is not on the Finnish scale: use one of "
                + ", ".join(FINNISH_GRADES),
                field="grade",
            )
        if command.score is not None and line_item is not None:
            low, high = line_item.result_min, line_item.result_max
            if (low is not None and command.score < low) or (
                high is not None and command.score > high
            ):
                raise InvalidValueError(
                    f"score {command.score} is outside the line item's range {low}…{high}",
                    field="score",
                )
        if command.score is None and command.grade is None and not command.comment:
            raise InvalidValueError(
                "an assessment needs a score, a grade or a comment", field="score"
            )
        _require_enum("scoreStatus", command.score_status, SCORE_STATUSES)
        if command.late and line_item is None:
            raise InvalidValueError(
                "only work for a line item (which has a due date) can be late", field="late"
            )
        self._require_objectives(command.objectives, "objectives")
        self._require_not_future(command.assessed_at, "assessedAt")
        sourced_id = command.sourced_id or _generated_id(actor, idempotency_seed)
        if not is_valid_sourced_id(sourced_id):
            raise InvalidValueError(f"sourcedId {sourced_id!r} is not valid", field="sourcedId")
        student_id = self._id("users", command.student)
        comment = None
        if command.comment:
            keep = retention.for_verbal_assessment(line_item.category if line_item else None)
            comment = self.sealer.seal(student_id, keep, {"comment": command.comment})
        fields: dict[str, Any] = dict(
            score=command.score,
            grade=command.grade,
            score_status=command.score_status,
            objectives=command.objectives,
            assessed_at=command.assessed_at,
            assessor=actor.subject,
            comment=comment,
            late=command.late,
        )
        # A freshly generated id names no result yet: skip the lookup's round trip.
        fresh = command.sourced_id is None and idempotency_seed is None
        existing = None if fresh else self._find(Result, RESULTS, sourced_id)
        if existing is None:
            result = Result.register(
                self._id(RESULTS, sourced_id),
                sourced_id=sourced_id,
                student=command.student,
                school_class=command.school_class,
                line_item=command.line_item,
                **fields,
            )
        else:
            result = existing
            if (result.student, result.school_class, result.line_item) != (
                command.student, command.school_class, command.line_item
            ):
                raise ConflictError(
                    f"result {sourced_id!r} is about another student, class or line item; "
                    "a correction keeps them",
                    field="sourcedId",
                )
            result.correct(**fields)
        return self._outcome(sourced_id, existing is None, result)

    def record_attainment(self, actor: Actor, command: RecordAttainment) -> Outcome:
        school_class = self._require(SchoolClass, "classes", command.school_class, "class")
        self._require_teacher_of(actor, school_class, on=command.assessed_at)
        self._require_student_of(command.student, school_class, on=command.assessed_at)
        if command.level not in ATTAINMENT_LEVELS:
            raise InvalidValueError(
                f"level {command.level} is not one of 1 (not yet reached) … 4 (excellent)",
                field="level",
            )
        objective = self._require_objectives([command.objective], "objective")[0]
        for line_item_id in command.evidence:
            line_item = self._require(LineItem, LINE_ITEMS, line_item_id, "evidence")
            if line_item.school_class != command.school_class:
                raise InvalidValueError(
                    f"evidence {line_item_id!r} is a line item of another class", field="evidence"
                )
        self._require_not_future(command.assessed_at, "assessedAt")
        key = f"{command.student}|{command.school_class}|{command.objective}"
        attainment_id = self._id(ATTAINMENTS, key)
        existing = self._find_by_id(ObjectiveAttainment, attainment_id)
        if existing is None:
            attainment = ObjectiveAttainment._create(
                ObjectiveAttainment.Assessed,
                id=attainment_id,
                student=command.student,
                school_class=command.school_class,
                objective=objective.code,
                subject=objective.subject,
                grades=objective.grades,
                eperusteet_id=objective.eperusteet_id,
                level=command.level,
                evidence=command.evidence,
                assessor=actor.subject,
                assessed_at=command.assessed_at,
            )
        else:
            attainment = existing
            attainment.reassess(
                level=command.level,
                evidence=command.evidence,
                assessor=actor.subject,
                assessed_at=command.assessed_at,
            )
        return self._outcome(str(attainment_id), existing is None, attainment)

    # -- consent ---------------------------------------------------------------------------

    def grant_consent(
        self, actor: Actor, command: GrantConsent, *, idempotency_seed: str | None = None
    ) -> Outcome:
        student = self._require(User, "users", command.student, "student")
        if not student.is_student:
            raise InvalidValueError(f"user {command.student!r} is not a student", field="student")
        if actor.role not in ("guardian", "student") or actor.subject != command.granted_by:
            raise NotPermittedError(
                "a consent is granted by a guardian or a student for themself: "
                "grantedBy must be the caller",
                field="grantedBy",
            )
        relation = self._consent_relation(command.student, command.granted_by, student)
        if not _SERVICE_ID.match(command.recipient):
            raise InvalidValueError(
                "recipient must be a service id (lowercase letters, digits and dashes)",
                field="recipient",
            )
        if not command.purposes or not all(_PURPOSE.match(p) for p in command.purposes):
            raise InvalidValueError(
                "purposes must be a non-empty list of lowercase words such as 'learning-app'",
                field="purposes",
            )
        unknown = sorted(set(command.categories) - DATA_CATEGORIES)
        if not command.categories or unknown:
            raise InvalidValueError(
                f"categories must be a non-empty list from {sorted(DATA_CATEGORIES)}"
                + (f"; unknown: {unknown}" if unknown else ""),
                field="categories",
            )
        if command.valid_until is not None and command.valid_until < self._today():
            raise InvalidValueError("validUntil is in the past", field="validUntil")
        consent_id = UUID(_generated_id(actor, idempotency_seed))
        if self._find_by_id(Consent, consent_id) is not None:
            raise ConflictError(f"consent {consent_id} exists already", field="consentId")
        consent = Consent._create(
            Consent.Granted,
            id=consent_id,
            student=command.student,
            granted_by=command.granted_by,
            grantor_relation=relation,
            recipient=command.recipient,
            purposes=sorted(set(command.purposes)),
            categories=sorted(set(command.categories)),
            valid_until=command.valid_until,
            granted_at=self.clock(),
        )
        return self._outcome(str(consent_id), True, consent)

    def revoke_consent(self, actor: Actor, consent_id: str) -> Outcome:
        consent = self.get_consent(consent_id)
        student = self._require(User, "users", consent.student, "student")
        allowed = actor.role == "admin" or actor.subject == consent.granted_by
        if actor.role == "guardian" and actor.subject in student.guardians:
            allowed = allowed or self.age(consent.student) is None or (
                (self.age(consent.student) or 0) < AGE_OF_MAJORITY
            )
        if actor.role == "student" and actor.subject == consent.student:
            age = self.age(consent.student)
            allowed = allowed or (age is not None and age >= DIGITAL_CONSENT_AGE)
        if not allowed:
            raise NotPermittedError(
                "only the person who granted a consent, the student's guardian or the student "
                "(from 13) can withdraw it"
            )
        consent.revoke(revoked_by=actor.subject, revoked_at=self.clock())
        return self._outcome(consent_id, False, consent)

    def expire_due_consents(self, consent_ids: Iterable[str]) -> int:
        """Records the expiry of each given consent whose `validUntil` has passed."""
        expired = [c for c in map(self.get_consent, consent_ids) if c.expire(today=self._today())]
        if expired:
            self._save(*expired)
        return len(expired)

    def get_consent(self, consent_id: str) -> Consent:
        try:
            key = UUID(consent_id)
        except ValueError:
            raise NotFoundError(f"no consent {consent_id!r}: consent ids are UUIDs") from None
        consent = self._find_by_id(Consent, key)
        if consent is None:
            raise NotFoundError(f"no consent {consent_id!r} in this tenant")
        return consent

    def _consent_relation(self, student_id: str, granted_by: str, student: User) -> str:
        age = self.age(student_id)
        if granted_by == student_id:
            if age is None:
                raise ConsentNotAllowedError(
                    "the student's birth date is not known, so the digital-consent age of "
                    f"{DIGITAL_CONSENT_AGE} cannot be checked; a guardian can grant instead",
                    field="grantedBy",
                )
            if age < DIGITAL_CONSENT_AGE:
                raise ConsentNotAllowedError(
                    f"the student is under the digital-consent age of {DIGITAL_CONSENT_AGE}; "
                    "a guardian must grant this consent",
                    field="grantedBy",
                )
            return "self"
        if granted_by not in student.guardians:
            raise ConsentNotAllowedError(
                f"{granted_by!r} is not a guardian linked to student {student_id!r}",
                field="grantedBy",
            )
        if age is not None and age >= AGE_OF_MAJORITY:
            raise ConsentNotAllowedError(
                "the student is of age: guardianship has ended and the student grants "
                "consents themself",
                field="grantedBy",
            )
        return "guardian"

    # -- erasure (GDPR art. 17) --------------------------------------------------------------

    def erase(self, actor: Actor, *, subject: str, reason: str, basis: str | None) -> Outcome:
        """Shreds the subject's keys that may go now and schedules the kept ones.

        The event is saved before the keys are destroyed; `reconcile_erasures` (run when the
        store opens) finishes any shredding a crash interrupted. Erasing twice is harmless.
        """
        if actor.role != "admin":
            raise NotPermittedError("only an admin (the data protection officer) erases data")
        _require_text("reason", reason)
        self._require(User, "users", subject, "subject")
        subject_id = self._id("users", subject)
        erasure_id = self._id(ERASURES, subject)
        today, now = self._today(), self.clock()
        birth_date = self._birth_date(subject)
        shred_now, kept = [], []
        for retention_class in self.tables.subject_retention_classes(subject_id):
            until = retention.kept_until(retention_class, birth_date=birth_date, today=today)
            if retention.may_shred_now(retention_class) or (until is not None and until <= today):
                shred_now.append(retention_class.value)
            else:
                kept.append({
                    "retention": retention_class.value,
                    "until": until,
                    "ground": retention.KEEP_GROUNDS[retention_class],
                })
        existing = self._find_by_id(Erasure, erasure_id)
        if existing is None:
            erasure = Erasure._create(
                Erasure.PersonalDataErased,
                id=erasure_id,
                subject=subject,
                subject_id=subject_id,
                basis=basis or "GDPR art. 17(1)",
                # The reason may name people: it is sealed under the erasure record's own key.
                reason=self.sealer.seal(
                    erasure_id, RetentionClass.PERMANENT_RECORD, {"reason": reason}
                ),
                requested_by=actor.subject,
                shredded=shred_now,
                kept=kept,
                erased_at=now,
            )
        else:
            erasure = existing
            erasure.repeat(requested_by=actor.subject, shredded=shred_now, repeated_at=now)
        outcome = self._outcome(str(erasure_id), existing is None, erasure)
        for retention_class in shred_now:
            self._shred(subject_id, RetentionClass(retention_class))
        return outcome

    def erasure(self, erasure_id: str) -> Erasure:
        try:
            key = UUID(erasure_id)
        except ValueError:
            raise NotFoundError(f"no erasure {erasure_id!r}: erasure ids are UUIDs") from None
        erasure = self._find_by_id(Erasure, key)
        if erasure is None:
            raise NotFoundError(f"no erasure {erasure_id!r} in this tenant")
        return erasure

    def erasure_reason(self, erasure: Erasure) -> str | None:
        opened = self.sealer.unseal(erasure.reason)
        return None if isinstance(opened, Erased) else str(opened["reason"])

    def erasure_ids(self) -> list[UUID]:
        """Every erasure of the tenant (erasures are rare: a topic-filtered read of the log)."""
        topic = f"{Erasure.PersonalDataErased.__module__}:{Erasure.PersonalDataErased.__qualname__}"
        ids, start = [], 1
        while True:
            page = self.recorder.select_notifications(start=start, limit=1000, topics=[topic])
            ids += [n.originator_id for n in page]
            if len(page) < 1000:
                return ids
            start = page[-1].id + 1

    def run_retention(self) -> list[tuple[str, str]]:
        """Shreds kept retention classes whose retention period has ended; each is an event."""
        done = []
        for erasure_id in self.erasure_ids():
            erasure = self._find_by_id(Erasure, erasure_id)
            if erasure is None:
                continue
            due = erasure.due(self._today())
            for retention_class in due:
                erasure.shred_retained(retention=retention_class, shredded_at=self.clock())
            if due:
                self._save(erasure)
                for retention_class in due:
                    self._shred(erasure.subject_id, RetentionClass(retention_class))
                    done.append((erasure.subject, retention_class))
        return done

    def shred_tenant(self, *, requested_by: str) -> Outcome:
        """Offboarding: destroys the tenant's key-encryption key (recorded first, as an event)."""
        offboarding_id = self._id("tenant", self.tenant)
        existing = self._find_by_id(TenantOffboarding, offboarding_id)
        if existing is None:
            existing = TenantOffboarding._create(
                TenantOffboarding.KeyEncryptionKeyShredded,
                id=offboarding_id,
                tenant=self.tenant,
                requested_by=requested_by,
                shredded_at=self.clock(),
            )
        outcome = self._outcome(str(offboarding_id), True, existing)
        self.tables.shred_tenant_kek()
        self.sealer.forget_all_keys()
        return outcome

    def reconcile_erasures(self) -> int:
        """Makes the key store agree with the erasure events: an interrupted shredding is
        finished and a key resurrected by a restored backup is destroyed again."""
        if self._find_by_id(TenantOffboarding, self._id("tenant", self.tenant)) is not None:
            self.tables.shred_tenant_kek()
            self.sealer.forget_all_keys()
        for erasure_id in self.erasure_ids():
            erasure = self._find_by_id(Erasure, erasure_id)
            if erasure is not None:
                for retention_class in erasure.shredded:
                    self._shred(erasure.subject_id, RetentionClass(retention_class))
        return self.tables.purge_shredded_keys()

    def _shred(self, subject_id: UUID, retention_class: RetentionClass) -> None:
        self.tables.shred_subject_key(subject_id, retention_class)
        self.sealer.forget_cached_key(subject_id, retention_class)

    def _birth_date(self, student_id: str) -> date | None:
        demographics = self._find(Demographics, "demographics", student_id)
        if demographics is None:
            return None
        personal = self.sealer.unseal(demographics.personal)
        if isinstance(personal, Erased) or not personal.get("birthDate"):
            return None
        return date.fromisoformat(personal["birthDate"])

    # -- reading ---------------------------------------------------------------------------

    def user(self, sourced_id: str) -> User:
        user = self._find(User, "users", sourced_id)
        if user is None:
            raise NotFoundError(f"no user {sourced_id!r} in this tenant")
        return user

    def personal_details(self, sourced_id: str) -> dict[str, Any] | Erased:
        """A user's personal fields, or ERASED when their key is gone."""
        return self.sealer.unseal(self.user(sourced_id).personal)

    def find(self, collection: str, sourced_id: str) -> SourcedRecord | None:
        aggregate_class = ROSTER_COLLECTIONS.get(collection) or {
            LINE_ITEMS: LineItem, RESULTS: Result
        }[collection]
        return self._find(aggregate_class, collection, sourced_id)

    def head_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    # -- helpers ---------------------------------------------------------------------------

    def _id(self, collection: str, sourced_id: str) -> UUID:
        return aggregate_id(self.tenant, collection, sourced_id)

    def _today(self) -> date:
        return self.clock().date()

    def age(self, user_id: str) -> int | None:
        """The user's age today from their sealed birth date; None when unknown or erased."""
        born = self._birth_date(user_id)
        return None if born is None else age_on(born, self._today())

    def _find(
        self, cls: type[A], collection: str, sourced_id: str, *, for_update: bool = True
    ) -> A | None:
        if not is_valid_sourced_id(sourced_id):
            raise InvalidValueError(
                f"{sourced_id!r} is not a valid sourcedId (letters, digits and ._:@/- , "
                "at most 128 characters)",
                field="sourcedId",
            )
        return self._find_by_id(cls, self._id(collection, sourced_id), for_update=for_update)

    def _find_by_id(
        self, cls: type[A], aggregate_id: UUID, *, for_update: bool = True
    ) -> A | None:
        try:
            # A record only read (a reference, a membership check) needs no private copy
            # of the cached aggregate; one about to change does.
            aggregate = self.repository.get(aggregate_id, deepcopy_from_cache=for_update)
        except AggregateNotFoundError:
            return None
        if not isinstance(aggregate, cls):
            return None
        return aggregate

    def _require(
        self, cls: type[A], collection: str, sourced_id: str, field: str,
        *, for_update: bool = False,
    ) -> A:
        found = self._find(cls, collection, sourced_id, for_update=for_update)
        if found is None:
            raise UnknownReferenceError(
                f"{field} refers to {sourced_id!r}, which is not in {collection} of this tenant",
                field=field,
            )
        return found

    def _require_roster_writer(self, actor: Actor) -> None:
        if actor.role == "admin":
            return
        if actor.role == "service" and "roster.createput" in actor.scopes:
            return
        raise NotPermittedError(
            "only an admin or the student information system's service (scope "
            "roster.createput) writes rosters"
        )

    def _require_teacher_of(
        self, actor: Actor, school_class: SchoolClass, *, on: date | None = None
    ) -> None:
        if actor.role != "teacher" or not school_class.has_member(actor.subject, "teacher", on=on):
            raise NotPermittedError(
                f"only a teacher of class {school_class.sourced_id!r}"
                + (f" on {on.isoformat()}" if on else "")
                + " can record its assessments"
            )

    def _require_student_of(
        self, student: str, school_class: SchoolClass, *, on: date | None = None
    ) -> None:
        if not school_class.has_member(student, "student", on=on):
            raise InvalidValueError(
                f"{student!r} is not a student enrolled in class {school_class.sourced_id!r}"
                + (f" on {on.isoformat()}" if on else ""),
                field="student",
            )

    def _require_objectives(self, codes: list[str], field: str) -> list[Any]:
        try:
            return [self.curriculum.objective(code) for code in codes]
        except UnknownObjectiveError as error:
            raise InvalidValueError(str(error), field=field) from None

    def _require_not_future(self, day: date, field: str) -> None:
        if day > self._today():
            raise InvalidValueError(f"{field} {day.isoformat()} is in the future", field=field)

    def _put(
        self,
        cls: type[SourcedRecord],
        collection: str,
        sourced_id: str,
        status: str,
        fields: dict[str, Any],
    ) -> Outcome:
        existing = self._find(cls, collection, sourced_id)
        if existing is None:
            record = cls.register(self._id(collection, sourced_id), sourced_id=sourced_id, **fields)
        else:
            record = existing
            getattr(record, "revise")(**fields)
        record.set_status(status)
        return self._outcome(sourced_id, existing is None, record)

    def _outcome(self, record_id: str, created: bool, *aggregates: Aggregate) -> Outcome:
        position = self._save(*aggregates)
        if position is None:
            return Outcome(record_id, self.head_position(), created=False, changed=False)
        return Outcome(record_id, position, created=created, changed=True)

    def _save(self, *aggregates: Aggregate) -> int | None:
        try:
            recordings = self.save(*aggregates)
        except IntegrityError:
            raise ConcurrentUpdateError(
                "another request changed the same record at the same time; "
                "read it again and retry"
            ) from None
        positions = [r.notification.id for r in recordings if r.notification.id is not None]
        if not positions:
            return None
        for listener in self.after_save:
            listener(max(positions))
        return max(positions)


def _require_enum(field: str, value: str, allowed: Iterable[str]) -> None:
    allowed = sorted(allowed)
    if value not in allowed and not is_extension(value):
        raise InvalidValueError(
            f"{field} {value!r} is not one of {', '.join(allowed)} (or an ext: value)",
            field=field,
        )


def _require_text(field: str, value: str) -> None:
    if not value or not value.strip():
        raise InvalidValueError(f"{field} is required and cannot be empty", field=field)


def _canonical(value: dict[str, Any]) -> dict[str, Any]:
    """The form a mapping has after a JSON round trip, to compare with an unsealed one."""
    canonical: dict[str, Any] = json.loads(json.dumps(value, sort_keys=True))
    return canonical


def _generated_id(actor: Actor, idempotency_seed: str | None) -> str:
    """A new record id; with an Idempotency-Key, the same key always gives the same id."""
    if idempotency_seed is None:
        return str(uuid4())
    return str(uuid5(DIGIONE_NAMESPACE, f"{actor.tenant}/{actor.role}/{actor.subject}/{idempotency_seed}"))
