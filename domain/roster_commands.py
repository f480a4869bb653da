"""Roster commands (OneRoster 1.2): put and mark for deletion every kind of roster record."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain import blind_index, retention
from domain.batch import current_batch
from domain.command_roles import require_roster_writer
from domain.commands import (
    Actor,
    Outcome,
    PutAcademicSession,
    PutClass,
    PutCourse,
    PutDemographics,
    PutEnrollment,
    PutOrg,
    PutUser,
)
from domain.errors import ConflictError, InvalidValueError, NotFoundError
from domain.identity_codes import contains_identity_code
from domain.roster import (
    ENROLLMENT_ROLES,
    ORG_TYPES,
    ROSTER_COLLECTIONS,
    SESSION_TYPES,
    USER_ROLES,
    AcademicSession,
    Course,
    Demographics,
    Enrollment,
    Org,
    SchoolClass,
    User,
)
from domain.sealing import Erased
from domain.tenant_core import TenantCore, require_enum, require_text
from domain.validated_reads import validated_reads


class RosterCommands(TenantCore):
    """The roster writes of one tenant: by an admin or the student information system."""

    @validated_reads
    def put_org(self, actor: Actor, command: PutOrg) -> Outcome:
        require_roster_writer(actor)
        require_enum("type", command.org_type, ORG_TYPES)
        require_text("name", command.name)
        if command.parent is not None:
            if command.parent == command.sourced_id:
                raise InvalidValueError("an org cannot be its own parent", field="parent")
            self._require(Org, "orgs", command.parent, "parent")
        fields: dict[str, Any] = {
            "name": command.name,
            "org_type": command.org_type,
            "identifier": command.identifier,
            "parent": command.parent,
        }
        return self._put_fields(Org, "orgs", command.sourced_id, command.status, fields)

    @validated_reads
    def put_academic_session(self, actor: Actor, command: PutAcademicSession) -> Outcome:
        require_roster_writer(actor)
        require_enum("type", command.session_type, SESSION_TYPES)
        require_text("title", command.title)
        if command.end_date < command.start_date:
            raise InvalidValueError("endDate is before startDate", field="endDate")
        if command.parent is not None:
            self._require(AcademicSession, "academicSessions", command.parent, "parent")
        fields: dict[str, Any] = {
            "title": command.title,
            "session_type": command.session_type,
            "start_date": command.start_date,
            "end_date": command.end_date,
            "parent": command.parent,
            "school_year": command.school_year,
        }
        return self._put_fields(
            AcademicSession, "academicSessions", command.sourced_id, command.status, fields
        )

    @validated_reads
    def put_course(self, actor: Actor, command: PutCourse) -> Outcome:
        require_roster_writer(actor)
        require_text("title", command.title)
        require_text("courseCode", command.course_code)
        if command.org is not None:
            self._require(Org, "orgs", command.org, "org")
        if command.school_year is not None:
            self._require(AcademicSession, "academicSessions", command.school_year, "schoolYear")
        fields: dict[str, Any] = {
            "title": command.title,
            "course_code": command.course_code,
            "school_year": command.school_year,
            "org": command.org,
            "grades": command.grades,
            "subjects": command.subjects,
            "subject_codes": command.subject_codes,
        }
        return self._put_fields(Course, "courses", command.sourced_id, command.status, fields)

    @validated_reads
    def put_class(self, actor: Actor, command: PutClass) -> Outcome:
        require_roster_writer(actor)
        require_text("title", command.details.title)
        if command.details.class_type is not None:
            require_enum("classType", command.details.class_type, {"homeroom", "scheduled"})
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
        placement: dict[str, Any] = {
            "course": command.course,
            "school": command.school,
            "terms": command.terms,
        }
        return self._put_record(
            SchoolClass,
            "classes",
            command.sourced_id,
            command.status,
            register=lambda class_id: SchoolClass.register(
                class_id, sourced_id=command.sourced_id, **placement, **command.details.__dict__
            ),
            revise=lambda school_class: school_class.revise(details=command.details, **placement),
        )

    def check_user(self, actor: Actor, command: PutUser) -> None:
        """The checks `put_user` makes before it records anything, and nothing else: an
        import tries users that name each other against them before it writes any of them
        (api/oneroster_csv/importer.py). DomainError when one fails."""
        require_roster_writer(actor)
        if not command.roles:
            raise InvalidValueError("a user needs at least one role", field="roles")
        for role in command.roles:
            require_enum("roles.role", role.role, USER_ROLES)
            require_enum("roles.roleType", role.role_type, {"primary", "secondary"})
            self._require(Org, "orgs", role.org, "roles.org")
        if command.primary_org is not None:
            self._require(Org, "orgs", command.primary_org, "primaryOrg")
        for name in ("givenName", "familyName"):
            if not str(command.personal.get(name) or "").strip():
                raise InvalidValueError(f"{name} is required and cannot be empty", field=name)
        _refuse_identity_codes(command.personal.get("userIds"))
        for guardian_id in command.guardians:
            if guardian_id == command.sourced_id:
                raise InvalidValueError("a user cannot be their own agent", field="agents")
            self._require(User, "users", guardian_id, "agents")

    @validated_reads
    def put_user(self, actor: Actor, command: PutUser) -> Outcome:
        self.check_user(actor, command)

        def register(user_id: UUID) -> User:
            user = User.register(
                user_id,
                sourced_id=command.sourced_id,
                enabled=command.enabled,
                roles=[r.as_dict() for r in command.roles],
                primary_org=command.primary_org,
                grades=command.grades,
                personal=self.sealer.seal(user_id, retention.USER_DETAILS, command.personal),
            )
            # Guardians are linked by events of their own, as on any later revision.
            revise_placement(user)
            return user

        def revise(user: User) -> None:
            if self.sealer.unseal(user.personal) != _canonical(command.personal):
                user.correct_personal_details(
                    self.sealer.seal(user.id, retention.USER_DETAILS, command.personal)
                )
            revise_placement(user)

        def revise_placement(user: User) -> None:
            user.revise(
                enabled=command.enabled,
                roles=command.roles,
                primary_org=command.primary_org,
                grades=command.grades,
                guardians=command.guardians,
            )

        # Outside a batch the user's digests are written in the transaction of the user's
        # events (one commit, shared with the commands saved at the same time), so the index
        # never names details the store did not record; a batch writes its users' digests
        # in one statement of its own transaction.
        batch = current_batch.get()
        digests = self._personal_digests(command.personal)
        outcome = self._put_record(
            User,
            "users",
            command.sourced_id,
            command.status,
            register=register,
            revise=revise,
            side_writes=(
                [self.tables.blind_index_write(command.sourced_id, digests)]
                if batch is None and digests is not None
                else []
            ),
        )
        if batch is not None and outcome.changed and digests is not None:
            batch.add_to_side_write(
                "blind_index", command.sourced_id, digests, self.tables.blind_index_writes
            )
        return outcome

    def users_with(self, field: str, value: str) -> list[str]:
        """The sourcedIds of the users whose sealed `field` equals `value` (normalised:
        case and spacing aside), found through the blind index; [] for an unindexed field."""
        key = self.sealer.blind_index_key()
        if key is None or field not in blind_index.INDEXED_FIELDS:
            return []
        return self.tables.subjects_with_digest(field, blind_index.digest(key, field, value))

    def reindex_users(self, on_progress: Callable[[int, int], None] | None = None) -> int:
        """Rebuilds every user's blind index from their sealed details: users recorded
        before the index existed, or after the way digests are made changes (a new index
        key). An erased user's entries go. Returns how many users were indexed; reports
        (done, total) as it goes."""
        key = self.sealer.blind_index_key()
        topic = f"{User.Registered.__module__}:{User.Registered.__qualname__}"
        users: list[str] = []
        start = 1
        while True:
            page = self.recorder.select_notifications(start=start, limit=1000, topics=[topic])
            for notification in page:
                event = self.mapper.to_domain_event(notification)
                if isinstance(event, User.Registered):
                    users.append(event.sourced_id)
            if len(page) < 1000:
                break
            start = page[-1].id + 1
        users = list(dict.fromkeys(users))
        indexed = 0
        for done, sourced_id in enumerate(users, start=1):
            personal = None if key is None else self.personal_details(sourced_id)
            if key is None or personal is None or isinstance(personal, Erased):
                self.tables.delete_blind_index(sourced_id)
            else:
                self.tables.replace_blind_index(sourced_id, blind_index.digests(key, personal))
                indexed += 1
            if on_progress is not None:
                on_progress(done, len(users))
        return indexed

    def _personal_digests(self, personal: dict[str, Any]) -> dict[str, str] | None:
        """The blind index of the user's sealed fields (domain/blind_index.py); None when the
        tenant has no index key."""
        key = self.sealer.blind_index_key(create=True)
        return None if key is None else blind_index.digests(key, personal)

    @validated_reads
    def put_enrollment(self, actor: Actor, command: PutEnrollment) -> Outcome:
        require_roster_writer(actor)
        require_enum("role", command.role, ENROLLMENT_ROLES)
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

        def revise(enrollment: Enrollment) -> None:
            identity = (command.user, command.school_class, command.role)
            if (enrollment.user, enrollment.school_class, enrollment.role) != identity:
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

        def update_membership(enrollment: Enrollment) -> list[Aggregate]:
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
            return [school_class]

        return self._put_record(
            Enrollment,
            "enrollments",
            command.sourced_id,
            command.status,
            register=lambda enrollment_id: Enrollment.register(
                enrollment_id,
                sourced_id=command.sourced_id,
                user=command.user,
                school_class=command.school_class,
                school=command.school,
                role=command.role,
                primary=command.primary,
                begin_date=command.begin_date,
                end_date=command.end_date,
            ),
            revise=revise,
            also_changed=update_membership,
        )

    @validated_reads
    def put_demographics(self, actor: Actor, command: PutDemographics) -> Outcome:
        require_roster_writer(actor)
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
        # Demographics are sealed under the keys of their user, the data subject.
        subject = self._id("users", command.sourced_id)

        def revise(demographics: Demographics) -> None:
            if self.sealer.unseal(demographics.personal) != _canonical(command.personal):
                demographics.correct(
                    self.sealer.seal(subject, retention.DEMOGRAPHICS, command.personal)
                )

        return self._put_record(
            Demographics,
            "demographics",
            command.sourced_id,
            command.status,
            register=lambda demographics_id: Demographics.register(
                demographics_id,
                sourced_id=command.sourced_id,
                personal=self.sealer.seal(subject, retention.DEMOGRAPHICS, command.personal),
            ),
            revise=revise,
        )

    def mark_for_deletion(self, actor: Actor, collection: str, sourced_id: str) -> Outcome:
        """OneRoster DELETE: the record stays, its status becomes `tobedeleted`."""
        require_roster_writer(actor)
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


def _canonical(value: dict[str, Any]) -> dict[str, Any]:
    """The form a mapping has after a JSON round trip, to compare with an unsealed one."""
    canonical: dict[str, Any] = json.loads(json.dumps(value, sort_keys=True))
    return canonical


def _refuse_identity_codes(user_ids: Any) -> None:
    """Refuses a Finnish personal identity code anywhere in `userIds` (see
    domain/identity_codes.py): it is never stored, not even sealed."""
    for index, entry in enumerate(user_ids or []):
        values = entry.values() if isinstance(entry, dict) else [entry]
        if any(isinstance(v, str) and contains_identity_code(v) for v in values):
            raise InvalidValueError(
                f"userIds[{index}] holds a Finnish personal identity code (henkilötunnus), "
                "which DigiOne never stores: send the student information system's own id "
                "(e.g. its oid or learner number) instead",
                field=f"userIds[{index}]",
            )
