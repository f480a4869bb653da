"""Gradebook commands (OneRoster 1.2): line items, assessments and objective attainments."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from domain import retention
from domain.agreements import Agreement
from domain.assessment import (
    FINNISH_GRADES,
    SCORE_STATUSES,
    Category,
    LineItem,
    Result,
    ScoreScale,
)
from domain.attainment import ATTAINMENT_LEVELS, ObjectiveAttainment
from domain.command_roles import require_teacher
from domain.commands import (
    Actor,
    Outcome,
    PutCategory,
    PutLineItem,
    PutScoreScale,
    RecordAssessment,
    RecordAttainment,
)
from domain.curriculum import Objective, UnknownObjectiveError
from domain.errors import (
    ConcurrentUpdateError,
    ConflictError,
    InvalidValueError,
    NotFoundError,
    NotPermittedError,
    ResultExistsError,
)
from domain.ids import aggregate_id, is_valid_sourced_id
from domain.recorders import SideWrite
from domain.roster import AcademicSession, Course, SchoolClass
from domain.tenant_core import (
    CATEGORIES,
    LINE_ITEMS,
    RESULTS,
    SCORE_SCALES,
    TenantCore,
    generated_id,
    require_enum,
    require_text,
)
from domain.validated_reads import validated_reads

ATTAINMENTS = "attainments"
#: Line-item categories of kept records (certificates, year reports): written by teachers
#: in DigiOne only, never by a connected service, nor the results under them.
KEPT_RECORD_CATEGORIES = frozenset({"finalCertificate", "leavingCertificate", "yearReport"})
#: The OneRoster scope URIs that let a service write (create/update) and delete gradebook data.
GRADEBOOK_WRITE_SCOPES = frozenset(
    {
        "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.createput",
        "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.createpost",
    }
)
GRADEBOOK_DELETE_SCOPE = "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.delete"
SERVICE = "service"
#: The sourcedId endings of the built-in score scales of each class (`{class}.fi-4-10`):
#: the Finnish grading scales, which no one redefines.
BUILT_IN_SCALES = ("fi-4-10", "fi-s-h")
#: The migration that fills the result slots from the results recorded before slots existed
#: (or whose slot a failed save of an earlier version left behind).
RESULT_SLOTS_FROM_EVENTS = "result-slots-from-events"


class GradebookCommands(TenantCore):
    """The gradebook writes of one tenant: by the teachers of a class, about its students."""

    def put_line_item(self, actor: Actor, command: PutLineItem) -> Outcome:
        school_class = self._require(SchoolClass, "classes", command.school_class, "class")
        self._require_teacher_of(actor, school_class)
        self._refuse_kept_record(actor, command.category, command.sourced_id)
        require_text("title", command.title)
        require_text("category", command.category)
        if command.due_date < command.assign_date:
            raise InvalidValueError("dueDate is before assignDate", field="dueDate")
        if (
            command.result_min is not None
            and command.result_max is not None
            and command.result_max <= command.result_min
        ):
            raise InvalidValueError(
                "resultValueMax must exceed resultValueMin", field="resultValueMax"
            )
        self._require_objectives(command.objectives, "learningObjectiveSet")
        if command.grading_period is not None:
            self._require(
                AcademicSession, "academicSessions", command.grading_period, "gradingPeriod"
            )
        fields: dict[str, Any] = {
            "title": command.title,
            "description": command.description,
            "school_class": command.school_class,
            "category": command.category,
            "assign_date": command.assign_date,
            "due_date": command.due_date,
            "grading_period": command.grading_period,
            "objectives": command.objectives,
            "result_min": command.result_min,
            "result_max": command.result_max,
        }

        def revise(line_item: LineItem) -> None:
            if line_item.school_class != command.school_class:
                raise ConflictError(
                    f"line item {command.sourced_id!r} belongs to class {line_item.school_class!r}",
                    field="class",
                )
            self._refuse_kept_record(actor, line_item.category, command.sourced_id)
            # The class is what the conflict above checked; a line item never moves class.
            line_item.revise(**{k: v for k, v in fields.items() if k != "school_class"})

        return self._put_record(
            LineItem,
            LINE_ITEMS,
            command.sourced_id,
            command.status,
            register=lambda line_item_id: LineItem.register(
                line_item_id, sourced_id=command.sourced_id, **fields
            ),
            revise=revise,
        )

    @validated_reads
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
            self._refuse_kept_record(actor, line_item.category, line_item.sourced_id)
        if command.grade is not None and command.grade not in FINNISH_GRADES:
            raise InvalidValueError(
                f"grade {command.grade!r} is not on the Finnish scale: use one of "
                + ", ".join(FINNISH_GRADES),
                field="grade",
            )
        if command.score is not None and line_item is not None:
            low, high = line_item.result_min, line_item.result_max
            # A service's score above the maximum is extra credit, as OneRoster clients send.
            extra_credit = actor.role == SERVICE
            if (low is not None and command.score < low) or (
                high is not None and command.score > high and not extra_credit
            ):
                raise InvalidValueError(
                    f"score {command.score} is outside the line item's range {low}…{high}",
                    field="score",
                )
        if command.score is None and command.grade is None and not command.comment:
            raise InvalidValueError(
                "an assessment needs a score, a grade or a comment", field="score"
            )
        require_enum("scoreStatus", command.score_status, SCORE_STATUSES)
        if command.late and line_item is None:
            raise InvalidValueError(
                "only work for a line item (which has a due date) can be late", field="late"
            )
        self._require_objectives(command.objectives, "objectives")
        self._require_not_future(command.assessed_at, "assessedAt")
        sourced_id = command.sourced_id or generated_id(actor, idempotency_seed)
        if not is_valid_sourced_id(sourced_id):
            raise InvalidValueError(f"sourcedId {sourced_id!r} is not valid", field="sourcedId")
        student_id = self._id("users", command.student)

        def sealed_fields() -> dict[str, Any]:
            """The result's fields, the comment sealed: called once every check passed, as
            sealing may create the student's key of the comment's retention class, and a
            refused command must leave nothing behind."""
            comment = None
            if command.comment:
                keep = retention.for_verbal_assessment(line_item.category if line_item else None)
                comment = self.sealer.seal(student_id, keep, {"comment": command.comment})
            return {
                "score": command.score,
                "grade": command.grade,
                "score_status": command.score_status,
                "objectives": command.objectives,
                "assessed_at": command.assessed_at,
                "assessor": actor.subject,
                "comment": comment,
                "late": command.late,
            }

        def correct(result: Result) -> None:
            about = (command.student, command.school_class, command.line_item)
            if (result.student, result.school_class, result.line_item) != about:
                raise ConflictError(
                    f"result {sourced_id!r} is about another student, class or line item; "
                    "a correction keeps them",
                    field="sourcedId",
                )
            result.correct(**sealed_fields())

        claims: list[SideWrite] = []

        def register(result_id: UUID) -> Result:
            if command.line_item is not None:
                claims.extend(
                    self._result_slot_claim(command.student, command.line_item, sourced_id)
                )
            return Result.register(
                result_id,
                sourced_id=sourced_id,
                student=command.student,
                school_class=command.school_class,
                line_item=command.line_item,
                **sealed_fields(),
            )

        try:
            return self._register_or_revise(
                Result,
                self._id(RESULTS, sourced_id),
                outcome_id=sourced_id,
                register=register,
                revise=correct,
                # A freshly generated id names no result yet: skip the lookup's round trip.
                look_up=command.sourced_id is not None or idempotency_seed is not None,
                side_writes=claims,
            )
        except ConcurrentUpdateError:
            if claims and command.line_item is not None:
                # A concurrent request recorded the student's result for the line item first.
                self._refuse_second_result(command.student, command.line_item, sourced_id)
            raise

    def _result_slot_claim(self, student: str, line_item: str, sourced_id: str) -> list[SideWrite]:
        """Refuses a second result of the student for the line item: the read models keep
        one result per student and line item (OneRoster), so a second would hide the first.

        The claim is written with the result's events (a failed save claims nothing); a
        slot that names this result already needs none.
        """
        if self._refuse_second_result(student, line_item, sourced_id):
            return []
        return [self.tables.result_slot_write(student, line_item, sourced_id)]

    def _refuse_second_result(self, student: str, line_item: str, sourced_id: str) -> bool:
        """Raises ResultExistsError when another result holds the slot; True when this one
        holds it, False when none does."""
        existing = self.tables.result_in_slot(student, line_item)
        if existing is not None and existing != sourced_id:
            raise ResultExistsError(
                f"student {student!r} already has result {existing!r} for line item "
                f"{line_item!r}; to correct it, send the assessment with sourcedId {existing!r}",
                existing=existing,
            )
        return existing == sourced_id

    def fill_result_slots(self) -> int:
        """Gives every recorded result with a line item its slot, once per store (a
        migration step run when the store opens); the first result recorded for a student
        and line item holds it. A slot that names a result never recorded (claimed by an
        earlier version before a save that failed) is removed first. Returns how many
        slots it added."""
        if self.tables.migration_done(RESULT_SLOTS_FROM_EVENTS):
            return 0
        recorded: list[tuple[str, str, str]] = []
        topic = f"{Result.Recorded.__module__}:{Result.Recorded.__qualname__}"
        start = 1
        while True:
            page = self.recorder.select_notifications(start=start, limit=1000, topics=[topic])
            for notification in page:
                event = self.mapper.to_domain_event(notification)
                if isinstance(event, Result.Recorded) and event.line_item is not None:
                    recorded.append((event.student, event.line_item, event.sourced_id))
            if len(page) < 1000:
                break
            start = page[-1].id + 1
        stale = [
            (student, line_item, result)
            for (student, line_item), result in self.tables.result_slots().items()
            if self._find_by_id(Result, self._id(RESULTS, result), for_update=False) is None
        ]
        return self.tables.fill_result_slots(RESULT_SLOTS_FROM_EVENTS, recorded, stale=stale)

    @validated_reads
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
        return self._register_or_revise(
            ObjectiveAttainment,
            attainment_id,
            register=lambda new_id: ObjectiveAttainment._create(
                ObjectiveAttainment.Assessed,
                id=new_id,
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
            ),
            revise=lambda attainment: attainment.reassess(
                level=command.level,
                evidence=command.evidence,
                assessor=actor.subject,
                assessed_at=command.assessed_at,
            ),
        )

    # -- categories and score scales (OneRoster 1.2 gradebook) ----------------------------

    def put_category(self, actor: Actor, command: PutCategory) -> Outcome:
        """Defines or revises a gradebook category, by a service (its agreement granting
        the write) or an admin; never a kept-record category."""
        self._require_category_writer(actor, command.sourced_id)
        require_text("title", command.title)
        if command.weight is not None and command.weight < 0:
            raise InvalidValueError("weight must not be negative", field="weight")
        return self._put_record(
            Category,
            CATEGORIES,
            command.sourced_id,
            command.status,
            register=lambda category_id: Category.register(
                category_id,
                sourced_id=command.sourced_id,
                title=command.title,
                weight=command.weight,
            ),
            revise=lambda category: category.revise(title=command.title, weight=command.weight),
        )

    def delete_category(self, actor: Actor, sourced_id: str) -> Outcome:
        """Marks a category `tobedeleted`. NotFoundError when none was defined (or it is
        deleted already): a category line items only name is theirs to change."""
        self._require_category_writer(actor, sourced_id, deleting=True)
        category = self._find(Category, CATEGORIES, sourced_id)
        if category is None or not category.is_active:
            raise NotFoundError(f"there is no category {sourced_id!r}", field="sourcedId")
        category.mark_for_deletion()
        return self._outcome(sourced_id, False, category)

    def put_score_scale(self, actor: Actor, command: PutScoreScale) -> Outcome:
        """Defines or revises a class's score scale, by a service whose agreement covers the
        class's school or a teacher of the class; never a built-in Finnish scale."""
        school_class = self._require(SchoolClass, "classes", command.school_class, "class")
        self._require_teacher_of(actor, school_class)
        self._refuse_built_in_scale(command.sourced_id)
        require_text("title", command.title)
        require_text("type", command.scale_type)
        if command.course is not None:
            self._require(Course, "courses", command.course, "course")
        values = [value for value, _meaning in command.values]
        if not values or any(not value.strip() for value in values):
            raise InvalidValueError(
                "scoreScaleValue needs at least one value, each with a non-empty itemValueLHS",
                field="scoreScaleValue",
            )
        if len(set(values)) != len(values):
            raise InvalidValueError(
                "scoreScaleValue names a value (itemValueLHS) twice", field="scoreScaleValue"
            )
        fields: dict[str, Any] = {
            "title": command.title,
            "scale_type": command.scale_type,
            "course": command.course,
            "values": values,
            "meanings": [meaning for _value, meaning in command.values],
        }

        def revise(scale: ScoreScale) -> None:
            if scale.school_class != command.school_class:
                raise ConflictError(
                    f"score scale {command.sourced_id!r} belongs to class {scale.school_class!r}",
                    field="class",
                )
            scale.revise(**fields)

        return self._put_record(
            ScoreScale,
            SCORE_SCALES,
            command.sourced_id,
            command.status,
            register=lambda scale_id: ScoreScale.register(
                scale_id,
                sourced_id=command.sourced_id,
                school_class=command.school_class,
                **fields,
            ),
            revise=revise,
        )

    def delete_score_scale(self, actor: Actor, sourced_id: str) -> Outcome:
        """Marks a score scale `tobedeleted`. NotFoundError when none was defined (or it is
        deleted already); the built-in scales are refused."""
        self._refuse_built_in_scale(sourced_id)
        scale = self._find(ScoreScale, SCORE_SCALES, sourced_id)
        if scale is None or not scale.is_active:
            raise NotFoundError(f"there is no score scale {sourced_id!r}", field="sourcedId")
        school_class = self._require(SchoolClass, "classes", scale.school_class, "class")
        self._require_teacher_of(actor, school_class, deleting=True)
        scale.mark_for_deletion()
        return self._outcome(sourced_id, False, scale)

    def _require_category_writer(
        self, actor: Actor, sourced_id: str, *, deleting: bool = False
    ) -> None:
        if sourced_id in KEPT_RECORD_CATEGORIES:
            raise NotPermittedError(
                f"{sourced_id!r} is a kept-record category: certificates and year reports "
                "are the school's own records, defined by law, not by a service"
            )
        if actor.role == SERVICE:
            self._require_agreement(actor, deleting=deleting)
        elif actor.role != "admin":
            raise NotPermittedError("gradebook categories are defined by a service or an admin")

    @staticmethod
    def _refuse_built_in_scale(sourced_id: str) -> None:
        if sourced_id.rsplit(".", 1)[-1] in BUILT_IN_SCALES:
            raise NotPermittedError(
                f"{sourced_id!r} is a built-in Finnish score scale (4–10 or S/H) of a class: "
                "it cannot be changed; define a scale of your own under another sourcedId"
            )

    def class_of_line_item(self, sourced_id: str) -> str | None:
        """The class of a line item; None when there is none (or the sourcedId is bad)."""
        try:
            line_item = self._find(LineItem, LINE_ITEMS, sourced_id, for_update=False)
        except InvalidValueError:
            return None
        return None if line_item is None else line_item.school_class

    def school_of_class(self, sourced_id: str) -> str | None:
        """The school of a class; None when there is none (or the sourcedId is bad)."""
        try:
            school_class = self._find(SchoolClass, "classes", sourced_id, for_update=False)
        except InvalidValueError:
            return None
        return None if school_class is None else school_class.school

    def delete_line_item(self, actor: Actor, sourced_id: str) -> Outcome:
        """Marks a line item `tobedeleted` (OneRoster never hard-deletes); its results stay
        in the log. NotFoundError when there is none, or it is deleted already."""
        line_item = self._find(LineItem, LINE_ITEMS, sourced_id)
        if line_item is None or not line_item.is_active:
            raise NotFoundError(f"there is no line item {sourced_id!r}", field="sourcedId")
        school_class = self._require(SchoolClass, "classes", line_item.school_class, "class")
        self._require_teacher_of(actor, school_class, deleting=True)
        self._refuse_kept_record(actor, line_item.category, sourced_id)
        line_item.mark_for_deletion()
        return self._outcome(sourced_id, False, line_item)

    def delete_result(self, actor: Actor, sourced_id: str) -> Outcome:
        """Marks a result `tobedeleted`. NotFoundError when there is none, or it is deleted."""
        result = self._find(Result, RESULTS, sourced_id)
        if result is None or not result.is_active:
            raise NotFoundError(f"there is no result {sourced_id!r}", field="sourcedId")
        school_class = self._require(SchoolClass, "classes", result.school_class, "class")
        self._require_teacher_of(actor, school_class, deleting=True)
        if result.line_item is not None:
            line_item = self._require(LineItem, LINE_ITEMS, result.line_item, "lineItem")
            self._refuse_kept_record(actor, line_item.category, line_item.sourced_id)
        result.mark_for_deletion()
        return self._outcome(sourced_id, False, result)

    def _refuse_kept_record(self, actor: Actor, category: str, line_item: str) -> None:
        """A service never writes kept-record line items (certificates, year reports) nor
        their results: those are the school's own records."""
        if actor.role == SERVICE and category in KEPT_RECORD_CATEGORIES:
            raise NotPermittedError(
                f"line item {line_item!r} is in the kept-record category {category!r}: "
                "certificates and year reports are recorded by the class's teachers in "
                "DigiOne, not by connected services"
            )

    def _require_service_for(
        self, actor: Actor, school_class: SchoolClass, *, deleting: bool
    ) -> None:
        """A service writes the gradebook of a class when its agreement is in force, grants
        the write (or delete) scope its token carries, and covers the class's school."""
        agreement = self._require_agreement(actor, deleting=deleting)
        if agreement.schools and school_class.school not in agreement.schools:
            raise NotPermittedError(
                f"class {school_class.sourced_id!r} is in school {school_class.school!r}, "
                "outside the schools of the client's agreement"
            )

    def _require_agreement(self, actor: Actor, *, deleting: bool) -> Agreement:
        """The service's agreement, in force and granting the write (or delete) scope its
        token carries."""
        agreement = self._find_by_id(
            Agreement, aggregate_id(self.tenant, "agreements", actor.subject), for_update=False
        )
        if agreement is None or agreement.ended:
            raise NotPermittedError("the service's agreement has ended or does not exist")
        wanted = {GRADEBOOK_DELETE_SCOPE} if deleting else GRADEBOOK_WRITE_SCOPES
        granted = set(agreement.scopes) & set(actor.scopes) & wanted
        if not granted:
            raise NotPermittedError(
                "writing the gradebook needs the scope "
                + (" or ".join(sorted(wanted)))
                + ", which the client's agreement or token does not grant"
            )
        return agreement

    def _require_teacher_of(
        self,
        actor: Actor,
        school_class: SchoolClass,
        *,
        on: date | None = None,
        deleting: bool = False,
    ) -> None:
        if actor.role == SERVICE:
            # A connected service writes for the class; its teachers stay as they are.
            self._require_service_for(actor, school_class, deleting=deleting)
            return
        require_teacher(actor)
        if not school_class.has_member(actor.subject, "teacher", on=on):
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

    def _require_objectives(self, codes: list[str], field: str) -> list[Objective]:
        try:
            return [self.curriculum.objective(code) for code in codes]
        except UnknownObjectiveError as error:
            raise InvalidValueError(str(error), field=field) from None

    def _require_not_future(self, day: date, field: str) -> None:
        if day > self._today():
            raise InvalidValueError(f"{field} {day.isoformat()} is in the future", field=field)
