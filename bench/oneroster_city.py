"""A generated city as a OneRoster 1.2 CSV bundle: schools, classes, students, guardians.

Deterministic for a size, so a test and the bench build the same city. Every student has a
guardian; half the links are written on the student's row and half on the guardian's
(OneRoster agents are two-way), and each student is in three classes of their school.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

from api.oneroster_csv.bundle import HEADERS

__all__ = ["city_files"]

_GIVEN = ("Aino", "Eino", "Helmi", "Onni", "Venla", "Leo", "Ella", "Väinö", "Sofia", "Elias")
_FAMILY = ("Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Hämäläinen", "Laine", "Koskinen")


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _manifest(modes: Mapping[str, str]) -> bytes:
    rows = [("manifest.version", "1.0"), ("oneroster.version", "1.2")]
    rows += [("source.systemName", "Generated SIS"), ("source.systemCode", "city-sis")]
    rows += [(f"file.{name}", mode) for name, mode in modes.items()]
    return _csv(("propertyName", "value"), rows)


def city_files(
    *, students: int, classes: int | None = None, enrollments_per_student: int = 3
) -> dict[str, bytes]:
    """The bundle's files (name → bytes): `students` students with a guardian each, a
    class for every 20 students (or `classes`), a teacher per class."""
    class_count = classes if classes is not None else max(1, students // 20)
    schools = max(1, class_count // 25)
    orgs = [("dist-1", "", "", "City", "district", "1", "")]
    orgs += [
        (f"sch-{s}", "", "", f"School {s}", "school", f"{s:05d}", "dist-1") for s in range(schools)
    ]
    sessions = [
        ("year-2026", "", "", "2025–2026", "schoolYear", "2025-08-01", "2026-07-31", "", "2026"),
        ("term-1", "", "", "Autumn", "term", "2025-08-01", "2025-12-31", "year-2026", "2026"),
        ("term-2", "", "", "Spring", "term", "2026-01-01", "2026-07-31", "year-2026", "2026"),
    ]
    courses = [
        (
            f"crs-{s}",
            "",
            "",
            "year-2026",
            "Mathematics",
            f"MA-{s}",
            "04",
            f"sch-{s}",
            "Mathematics",
            "MA",
        )
        for s in range(schools)
    ]
    class_rows = []
    users = []
    roles = []
    enrollments = []
    demographics = []
    for k in range(class_count):
        school = k % schools
        class_rows.append(
            (f"cls-{k}", "", "", f"Class {k}", "04", f"crs-{school}", f"C{k}", "scheduled",
             f"Room {k % 40}", f"sch-{school}", "term-1,term-2", "Mathematics", "MA", "1")
        )  # fmt: skip
        teacher = f"tch-{k}"
        users.append(_user(teacher, k, agents=""))
        roles.append(
            (f"r-{teacher}", "", "", teacher, "primary", "teacher", "", "", f"sch-{school}", "")
        )
        enrollments.append(
            (f"enr-{teacher}", "", "", f"cls-{k}", f"sch-{school}", teacher, "teacher", "true", "", "")
        )  # fmt: skip
    for n in range(students):
        student, guardian = f"stu-{n}", f"grd-{n}"
        home = n % class_count
        school = home % schools
        on_student_row = n % 2 == 0
        users.append(_user(student, n, agents=guardian if on_student_row else "", grades="04"))
        users.append(_user(guardian, n + 7, agents="" if on_student_row else student))
        roles.append(
            (f"r-{student}", "", "", student, "primary", "student", "", "", f"sch-{school}", "")
        )
        roles.append(
            (f"r-{guardian}", "", "", guardian, "primary", "guardian", "", "", f"sch-{school}", "")
        )
        same_school = list(range(school, class_count, schools))
        first = same_school.index(home)
        for j in range(min(enrollments_per_student, len(same_school))):
            k = same_school[(first + j) % len(same_school)]
            enrollments.append(
                (f"enr-{student}-{j}", "", "", f"cls-{k}", f"sch-{school}", student, "student", "false", "", "")
            )  # fmt: skip
        demographics.append(
            (student, "", "", f"2016-{n % 12 + 1:02d}-{n % 28 + 1:02d}", "female" if n % 2 else "male",
             "", "", "", "", "", "", "", "FI", "", "Helsinki", "")
        )  # fmt: skip
    data: dict[str, Sequence[Sequence[object]]] = {
        "orgs": orgs,
        "academicSessions": sessions,
        "courses": courses,
        "classes": class_rows,
        "users": users,
        "roles": roles,
        "enrollments": enrollments,
        "demographics": demographics,
    }
    files = {f"{name}.csv": _csv(HEADERS[name], rows) for name, rows in data.items()}
    files["manifest.csv"] = _manifest(dict.fromkeys(data, "bulk"))
    return files


def _user(sourced_id: str, n: int, *, agents: str, grades: str = "") -> tuple[str, ...]:
    given, family = _GIVEN[n % len(_GIVEN)], _FAMILY[n % len(_FAMILY)]
    return (
        sourced_id, "", "", "true", sourced_id, f"{{SIS:{sourced_id}}}", given, family, "",
        sourced_id.upper(), f"{sourced_id}@example.invalid", "", "", agents, grades, "", "",
        "", "", "", "", "",
    )  # fmt: skip
