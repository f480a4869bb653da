"""Importing OneRoster CSV bundles: bulk then delta, the deletion guard, broken rows, re-runs."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from api.bootstrap import Container
from api.oneroster_csv.importer import ImportReport, MassDeletionError, import_bundle
from api.oneroster_csv.rows import row_command, row_shape
from bench.oneroster_city import city_files
from domain.application import TenantApplication
from domain.commands import Actor
from domain.roster import Enrollment, SchoolClass, User
from tests.oneroster_csv.conftest import SCHOOL, Export, ImportFiles, bundle_of, csv_files

#: When the deltas of these tests say their rows changed.
STAMP = "2026-03-01T08:00:00.000Z"


def _user(app: TenantApplication, sourced_id: str) -> User:
    found = app.find("users", sourced_id)
    assert isinstance(found, User)
    return found


def _personal(app: TenantApplication, sourced_id: str) -> dict[str, Any]:
    opened = app.personal_details(sourced_id)
    assert isinstance(opened, dict)
    return opened


def test_a_bulk_import_records_the_school_and_answers_counts_per_file(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    report = import_files(csv_files(SCHOOL))

    assert report.rejected == []
    assert report.files["users"].created == 5
    assert report.files["enrollments"].created == 3
    assert _personal(app, "stu-1")["givenName"] == "Aino"
    assert report.position == app.head_position()


def test_agents_are_read_both_ways_and_kept_on_the_student(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    import_files(csv_files(SCHOOL))

    # grd-1 names stu-1 on the guardian's row; stu-2 names grd-2 on the student's row.
    assert _user(app, "stu-1").guardians == ["grd-1"]
    assert _user(app, "stu-2").guardians == ["grd-2"]
    assert _user(app, "grd-1").guardians == []


def test_a_rerun_of_the_same_bulk_bundle_records_no_events(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    import_files(csv_files(SCHOOL))
    head = app.head_position()

    again = import_files(csv_files(SCHOOL))

    assert app.head_position() == head
    assert again.files["users"].unchanged == 5
    assert again.files["enrollments"].unchanged == 3


def test_a_delta_changes_only_what_its_rows_say(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    delta = {
        "users": [f"stu-1,active,{STAMP},true,,,Aino,Mäkinen,,,,,,grd-1,05,,,,,,sch-1,"],
        "enrollments": [f"e3,tobedeleted,{STAMP},cls-4a,sch-1,stu-2,student,false,,"],
    }

    report = _delta_after_the_school(import_files, delta)

    assert report.files["users"].updated == 1
    assert report.files["enrollments"].deleted == 1
    assert _personal(app, "stu-1")["familyName"] == "Mäkinen"
    assert _user(app, "stu-2").is_active  # absent from a delta: untouched
    enrollment = app.find("enrollments", "e2")
    assert isinstance(enrollment, Enrollment) and enrollment.is_active


def test_a_delta_sent_again_reports_each_of_its_rows_unchanged(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    """A SIS that sends its delta again (its first answer lost) reads that nothing
    changed: every row of each file is counted once, the tobedeleted ones included."""
    delta = {
        "users": [f"stu-1,active,{STAMP},true,,,Aino,Mäkinen,,,,,,grd-1,05,,,,,,sch-1,"],
        "enrollments": [f"e3,tobedeleted,{STAMP},cls-4a,sch-1,stu-2,student,false,,"],
        "roles": [
            f"r9,active,{STAMP},grd-1,primary,parent,,,sch-1,",
            f"r4,tobedeleted,{STAMP},grd-1,primary,guardian,,,sch-1,",
        ],
    }

    first = _delta_after_the_school(import_files, delta)
    again = import_files(csv_files(delta, mode="delta"))

    assert _counted(first) == {
        "users": (1, 0, 1, 0, 0, 0),
        "enrollments": (1, 0, 0, 0, 1, 0),
        "roles": (2, 0, 1, 0, 1, 0),
    }
    assert _counted(again) == {
        "users": (1, 0, 0, 1, 0, 0),
        "enrollments": (1, 0, 0, 1, 0, 0),
        "roles": (2, 0, 0, 2, 0, 0),
    }


def test_a_user_the_users_file_does_not_name_refused_through_a_role_row_is_that_rows_rejection(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    """A role row that would leave its user without a role is rejected in roles.csv; the
    users.csv rows, all written, count no rejection of that user they do not name."""
    delta = {
        "users": [f"stu-1,active,{STAMP},true,,,Aino,Mäkinen,,,,,,grd-1,05,,,,,,sch-1,"],
        "roles": [f"r4,tobedeleted,{STAMP},grd-1,primary,guardian,,,sch-1,"],
    }

    report = _delta_after_the_school(import_files, delta)

    assert _counted(report) == {"users": (1, 0, 1, 0, 0, 0), "roles": (1, 0, 0, 0, 0, 1)}
    assert [(n.file, n.row) for n in report.rejected] == [("users", 0), ("roles", 2)]
    assert "grd-1" in report.rejected[0].reason and "role" in report.rejected[0].reason
    assert report.rejected[1].reason.endswith(
        "they were refused (see users.csv, asked for by other rows)"
    )
    assert _user(app, "grd-1").has_role("guardian")


def test_a_student_whose_guardians_row_is_rejected_is_rejected_too_and_not_written(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    """As a PUT naming an agent the tenant does not have: the student's row is rejected
    with a reason naming the guardian, and each file's counts add up to its rows."""
    no_given_name = "grd-2,,,true,,,,Korhonen,,,,,,,,,,,,,,"
    school = {**SCHOOL, "users": [*SCHOOL["users"][:4], no_given_name]}

    report = import_files(csv_files(school))

    counted = _counted(report)
    assert counted["users"] == (5, 3, 0, 0, 0, 2)
    assert counted["roles"] == (5, 3, 0, 0, 0, 2)
    assert counted["enrollments"] == (3, 2, 0, 0, 0, 1)
    student_row = next(n for n in report.rejected if n.file == "users" and n.row == 4)
    assert student_row.column == "agentSourcedIds" and "grd-2" in student_row.reason
    role_row = next(n for n in report.rejected if n.file == "roles" and n.row == 4)
    assert (
        role_row.reason
        == "the role's user 'stu-2' was not written: their users.csv row 4 was rejected"
    )
    assert app.find("users", "stu-2") is None
    assert app.find("users", "stu-1") is not None


@pytest.mark.parametrize(
    ("user", "users_counted", "why"),
    [
        # grd-1 is stored: the row marks them, and their role is not given.
        ("grd-1", (1, 0, 0, 0, 1, 0), "users.csv row 2 marks them tobedeleted"),
        # grd-9 is not: the row is rejected, and so is the role.
        ("grd-9", (1, 0, 0, 0, 0, 1), "their users.csv row 2 was rejected"),
    ],
)
def test_a_role_row_of_a_user_the_same_delta_marks_tobedeleted_is_rejected_saying_why(
    app: TenantApplication,
    import_files: ImportFiles,
    user: str,
    users_counted: tuple[int, ...],
    why: str,
) -> None:
    delta = {
        "users": [f"{user},tobedeleted,{STAMP},true,,,Helmi,Virtanen,,,,,,,,,,,,,,"],
        "roles": [f"r9,active,{STAMP},{user},primary,parent,,,sch-1,"],
    }

    report = _delta_after_the_school(import_files, delta)

    assert _counted(report) == {"users": users_counted, "roles": (1, 0, 0, 0, 0, 1)}
    assert report.rejected[-1].reason == f"the role's user {user!r} was not written: {why}"


def _delta_after_the_school(import_files: ImportFiles, delta: dict[str, list[str]]) -> ImportReport:
    """The school imported in bulk, then `delta`'s rows as a delta: the delta's report."""
    import_files(csv_files(SCHOOL))
    return import_files(csv_files(delta, mode="delta"))


def _with_agents(line: str, agents: str) -> str:
    """A users.csv row of SCHOOL naming `agents` (one sourcedId, or several quoted)."""
    values = line.split(",")
    return ",".join([*values[:13], agents, *values[14:]])


def test_a_user_naming_an_agent_the_file_has_after_it_is_written_with_that_agent(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    tch, stu_1, stu_2, grd_1, grd_2 = SCHOOL["users"]
    school = {**SCHOOL, "users": [_with_agents(tch, "grd-1"), stu_1, stu_2, grd_1, grd_2]}

    report = import_files(csv_files(school))

    assert _counted(report)["users"] == (5, 5, 0, 0, 0, 0)
    assert _user(app, "tch-1").guardians == ["grd-1"]


def test_a_user_naming_an_agent_whose_later_row_is_rejected_is_rejected_and_not_written(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    """And the student the rejected row named is written, without that link."""
    tch, stu_1, stu_2, grd_1, grd_2 = SCHOOL["users"]
    no_given_name = grd_1.replace("Helmi", "")
    school = {**SCHOOL, "users": [_with_agents(tch, "grd-1"), stu_1, stu_2, no_given_name, grd_2]}

    report = import_files(csv_files(school))

    assert _counted(report)["users"] == (5, 3, 0, 0, 0, 2)
    teacher_row = next(n for n in report.rejected if n.file == "users" and n.row == 2)
    assert teacher_row.column == "agentSourcedIds" and "grd-1" in teacher_row.reason
    assert app.find("users", "tch-1") is None and app.find("users", "grd-1") is None
    assert _user(app, "stu-1").guardians == []


def test_users_naming_each_other_are_both_written_linked_to_each_other(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    tch, stu_1, stu_2, grd_1, grd_2 = SCHOOL["users"]
    school = {
        **SCHOOL,
        "users": [_with_agents(tch, "grd-2"), stu_1, stu_2, grd_1, _with_agents(grd_2, "tch-1")],
    }

    report = import_files(csv_files(school))

    assert _counted(report)["users"] == (5, 5, 0, 0, 0, 0)
    assert _user(app, "tch-1").guardians == ["grd-2"]
    assert "tch-1" in _user(app, "grd-2").guardians


def test_users_naming_each_other_are_both_rejected_when_one_of_their_rows_is(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    """The other was written first without the link, then reported rejected as well: it
    stood in the store though the report said it was left out."""
    tch, stu_1, stu_2, grd_1, _ = SCHOOL["users"]
    no_given_name = "grd-2,,,true,,,,Korhonen,,,,,,tch-1,,,,,,,,"
    school = {**SCHOOL, "users": [_with_agents(tch, "grd-2"), stu_1, stu_2, grd_1, no_given_name]}

    report = import_files(csv_files(school))

    counted = _counted(report)
    assert counted["users"] == (5, 2, 0, 0, 0, 3)
    assert counted["roles"] == (5, 2, 0, 0, 0, 3)
    assert counted["enrollments"] == (3, 1, 0, 0, 0, 2)
    teacher_row = next(n for n in report.rejected if n.file == "users" and n.row == 2)
    assert teacher_row.column == "agentSourcedIds" and "grd-2" in teacher_row.reason
    assert app.find("users", "tch-1") is None
    assert app.find("users", "grd-1") is not None


def _counted(report: ImportReport) -> dict[str, tuple[int, int, int, int, int, int]]:
    """Each file's rows, then how many were created, updated, unchanged, marked tobedeleted
    and rejected."""
    return {
        name: (c.rows, c.created, c.updated, c.unchanged, c.deleted, c.rejected)
        for name, c in report.files.items()
    }


def test_records_absent_from_a_bulk_file_are_marked_tobedeleted(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    import_files(csv_files(SCHOOL))
    fewer = {**SCHOOL, "enrollments": SCHOOL["enrollments"][:2]}

    report = import_files(csv_files(fewer), allow_mass_deletion=True)

    assert report.files["enrollments"].deleted == 1
    removed = app.find("enrollments", "e3")
    assert removed is not None and not removed.is_active
    assert _user(app, "stu-2").is_active


def test_the_mass_deletion_guard_stops_a_truncated_bulk_file_before_recording_anything(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    import_files(csv_files(SCHOOL))
    head = app.head_position()
    truncated = {**SCHOOL, "users": SCHOOL["users"][:1], "demographics": []}
    truncated["users"][0] = truncated["users"][0].replace("Tiina", "Tiina-Maria")

    with pytest.raises(MassDeletionError) as stopped:
        import_files(csv_files({k: v for k, v in truncated.items() if v}))

    assert app.head_position() == head
    counts = {m.collection: (m.would_mark, m.of) for m in stopped.value.report.mass_deletions}
    assert counts["users"] == (4, 5)
    assert _personal(app, "tch-1")["givenName"] == "Tiina"


def test_records_of_another_source_are_never_marked_by_a_bulk_file(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    import_files(csv_files(SCHOOL))
    other = csv_files({"orgs": ["sch-9,,,Muu,school,09,"]})
    other["manifest.csv"] += b"source.systemCode,other-sis\n"

    import_files(other)

    school = app.find("orgs", "sch-1")
    assert school is not None and school.is_active


def test_broken_rows_are_rejected_with_row_and_column_and_the_rest_imported(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    broken = {
        **SCHOOL,
        "users": [
            *SCHOOL["users"],
            "stu-3,,,maybe,,,Leo,Laine,,,,,,,,,,,,,,",
            "stu-4,,,true,,{hetu:010516A123S},Ella,Laine,,,,,,,,,,,,,,",
        ],
        "roles": [*SCHOOL["roles"], "r6,,,stu-3,primary,student,,,sch-1,", "r7,,,stu-4,primary,student,,,sch-1,"],
        "enrollments": [*SCHOOL["enrollments"], "e4,,,cls-9,sch-1,stu-1,student,false,,"],
    }  # fmt: skip

    report = import_files(csv_files(broken))

    rejected = {(n.file, n.row, n.column) for n in report.rejected}
    assert ("users", 7, "enabledUser") in rejected
    assert ("users", 8, "userIds") in rejected
    assert ("enrollments", 5, "class") not in rejected
    assert ("enrollments", 5, "classSourcedId") in rejected
    assert app.find("users", "stu-3") is None and app.find("users", "stu-4") is None
    assert report.files["users"].created == 5
    assert report.files["users"].rejected == 2


def test_known_quirks_are_tolerated_and_reported(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    quirky = {
        **SCHOOL,
        "users": [SCHOOL["users"][0].replace(",true,", ",TRUE,", 1), *SCHOOL["users"][1:]],
        # stu-2 enrolled as a teacher without a teacher role.
        "enrollments": [*SCHOOL["enrollments"], "e9,,,cls-4a,sch-1,grd-2,teacher,false,,"],
    }
    files = csv_files(quirky, version="1.2.1")
    files["users.csv"] = b"\xef\xbb\xbf" + files["users.csv"].replace(b"\n", b"\r\n")

    report = import_files(files)

    reasons = " | ".join(n.reason for n in report.quirks)
    assert "BOM" in reasons and "1.2.1" in reasons
    assert "CRLF" not in reasons  # RFC 4180's own line end is no quirk
    assert "'TRUE'" in reasons and "secondary role" in reasons
    assert report.rejected == []
    assert _user(app, "tch-1").enabled
    assert app.find("enrollments", "e9") is not None


def test_a_one_one_bundle_is_read_with_its_roles_on_the_user(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    users_1_1 = (
        "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,"
        "givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n"
        "tch-1,,,true,sch-1,teacher,,,Tiina,Opettaja,,,,,,,,secret\n"
    )  # fmt: skip
    files = csv_files({"orgs": SCHOOL["orgs"]}, version="1.1")
    files["users.csv"] = users_1_1.encode()
    files["manifest.csv"] += b"file.users,bulk\n"

    report = import_files(files)

    assert report.rejected == []
    assert _user(app, "tch-1").has_role("teacher")
    assert "never stored" in " ".join(n.reason for n in report.quirks)
    assert "secret" not in repr(app.personal_details("tch-1"))


def test_a_delta_role_row_adds_or_removes_one_role_and_keeps_the_others(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    delta = {
        "roles": [
            f"r8,active,{STAMP},tch-1,secondary,principal,,,sch-1,",
            f"r4,tobedeleted,{STAMP},grd-1,primary,guardian,,,sch-1,",
            f"r9,active,{STAMP},grd-1,primary,parent,,,sch-1,",
        ]
    }

    report = _delta_after_the_school(import_files, delta)

    assert _user(app, "tch-1").has_role("teacher") and _user(app, "tch-1").has_role("principal")
    assert not _user(app, "grd-1").has_role("guardian") and _user(app, "grd-1").has_role("parent")
    # Each row counted by what became of its user: a SIS sees its delta's effect.
    roles = report.files["roles"]
    assert (roles.rows, roles.updated, roles.deleted, roles.unchanged) == (3, 2, 1, 0)


def test_role_rows_are_counted_by_what_became_of_their_users(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    first = import_files(csv_files(SCHOOL))
    again = import_files(csv_files(SCHOOL))
    erased_user_role = {
        "roles": ["r9,active,2026-03-01T08:00:00.000Z,stu-2,secondary,aide,,,sch-1,"]
    }
    app.erase(Actor(app.tenant, "admin", "dpo"), subject="stu-2", reason="pyyntö", basis=None)
    after_erasure = import_files(csv_files(erased_user_role, mode="delta"))

    count = len(SCHOOL["roles"])
    assert (first.files["roles"].rows, first.files["roles"].created) == (count, count)
    assert (again.files["roles"].rows, again.files["roles"].unchanged) == (count, count)
    assert after_erasure.files["roles"].rejected == 1
    assert [(n.file, n.row, n.column) for n in after_erasure.rejected] == [
        ("roles", 2, "userSourcedId")
    ]
    assert after_erasure.rejected[0].reason.endswith("their personal data was erased")


def test_a_role_of_an_unknown_user_is_rejected_with_its_row(
    app: TenantApplication, import_files: ImportFiles
) -> None:
    rows = {**SCHOOL, "roles": [*SCHOOL["roles"], "r9,,,nobody,primary,student,,,sch-1,"]}

    report = import_files(csv_files(rows))

    assert [(n.file, n.row, n.column) for n in report.rejected] == [("roles", 7, "userSourcedId")]


def test_an_import_saved_one_row_per_transaction_records_the_roster_of_one_in_batches(
    container: Container, app: TenantApplication, admin: Actor, export: Export
) -> None:
    # The city generator's smallest town: a school, a class, 10 students and guardians.
    files = city_files(students=10)
    other = container.tenants.create(app.tenant + "b", name="Toinen kunta")

    batched = import_bundle(app, admin, bundle_of(files))
    one_by_one = import_bundle(
        other, Actor(other.tenant, "admin", "sis"), bundle_of(files), batch_size=1
    )

    assert batched.rejected == one_by_one.rejected == []
    assert app.head_position() == other.head_position()
    # The blind index, written for a whole batch at once, finds the same users.
    assert app.users_with("email", "STU-3@example.invalid") == ["stu-3"]
    assert other.users_with("email", "stu-3@example.invalid") == ["stu-3"]
    assert _without_manifest(export(app, "vendor-x")) == _without_manifest(
        export(other, "vendor-x")
    )


def test_a_record_another_writer_changes_during_an_import_is_read_as_changed(
    app: TenantApplication, admin: Actor
) -> None:
    """The import keeps the records it saved between its batches; a class renamed over
    REST after the import put it is brought up to date before its enrollments join it."""
    files = city_files(students=10)
    renamed: list[int] = []

    def rename_the_class(done: int, _total: int) -> None:
        # After the orgs, sessions, course and class (7 rows), while the users go in; from
        # a thread of its own, as another request would (outside the import's batch).
        if done == 8 and not renamed:
            worker = threading.Thread(target=lambda: renamed.append(_rename(app, admin)))
            worker.start()
            worker.join()

    report = import_bundle(app, admin, bundle_of(files), batch_size=4, on_progress=rename_the_class)

    school_class = app.find("classes", "cls-0")
    assert renamed and report.rejected == []
    assert isinstance(school_class, SchoolClass)
    assert school_class.details.title == "Renamed"
    assert len(school_class.members) == report.files["enrollments"].created == 11


def _rename(app: TenantApplication, admin: Actor) -> int:
    values = {"title": "Renamed", "courseSourcedId": "crs-0", "schoolSourcedId": "sch-0",
              "termSourcedIds": "term-1,term-2", "classType": "scheduled"}  # fmt: skip
    command = row_command("classes", "cls-0", row_shape("classes", values, 0, []), "active")
    return app.put_class(admin, command).position


def _without_manifest(files: dict[str, bytes]) -> dict[str, bytes]:
    return {name: data for name, data in files.items() if name != "manifest.csv"}
