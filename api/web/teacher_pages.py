"""The teacher's pages: their classes, a class's dashboard, and one student's progress.

The pages read through the same read service as GET /api/v1/dashboards/classes/{id}
(projections/reads/class_dashboard.py), so a page refuses whom the API refuses.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from api.deps import ClassDashboardReadsDep
from api.web.charts import TimeChart, range_bar, time_chart
from api.web.i18n import Translator
from api.web.rendering import FreshPage, PageDep, PageRoute, freshness, render
from api.web.session import SignedIn, SignedInDep
from domain.curriculum import Curriculum, UnknownSubjectError
from projections.catalogue import ProjectionCatalogue
from projections.class_dashboard import ClassDashboardProjection
from projections.reads.access import require_role

router = APIRouter(prefix="/ui/teacher", route_class=PageRoute)

#: Students per page of the heatmap.
PAGE_SIZE = 30
#: Enough for any class: a student's page reads the whole class to find them.
_WHOLE_CLASS = 10_000
_NOT_A_TEACHER = "these pages are for teachers"
_GRADE_SCALE = (4.0, 10.0)

ClassId = Annotated[str, Path(max_length=128)]


def _dashboards(projections: ProjectionCatalogue) -> ClassDashboardProjection:
    return projections.class_dashboard


#: Read-your-writes for the teacher's pages (anyone else is refused without waiting).
FreshDashboard = Annotated[None, Depends(FreshPage(_dashboards, roles=("teacher",)))]


def _require_teacher(who: SignedIn) -> None:
    require_role(who.actor, ("teacher",), _NOT_A_TEACHER)


@router.get("")
def my_classes(
    page: PageDep, who: SignedInDep, reads: ClassDashboardReadsDep, _fresh: FreshDashboard
) -> Response:
    _require_teacher(who)
    classes = reads.taught_classes(who.actor)
    codes = {code for c in classes for code in c.subject_codes}
    return render(
        page,
        "teacher_classes.html",
        who=who.actor,
        classes=classes,
        subject_names={code: subject_name(who.app.curriculum, code, page.lang) for code in codes},
        freshness=freshness(page.container, who.actor, _dashboards),
    )


@router.get("/classes/{class_id}")
def class_page(
    class_id: ClassId,
    page: PageDep,
    who: SignedInDep,
    reads: ClassDashboardReadsDep,
    _fresh: FreshDashboard,
    term: Annotated[str | None, Query(max_length=128)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    _require_teacher(who)
    dashboard = reads.dashboard(
        who.app, who.actor, class_id, term=term or None, limit=PAGE_SIZE, offset=offset
    )
    total = dashboard["page"]["total"]
    return render(
        page,
        "class_dashboard.html",
        who=who.actor,
        d=dashboard,
        freshness=freshness(page.container, who.actor, _dashboards),
        term=term or "",
        term_titles=reads.term_titles(who.actor, dashboard["class"]["terms"]),
        line_items=[_line_item_view(item) for item in dashboard["lineItems"]],
        previous_offset=max(offset - PAGE_SIZE, 0) if offset > 0 else None,
        next_offset=offset + PAGE_SIZE if offset + PAGE_SIZE < total else None,
        first=min(offset + 1, total),
        last=min(offset + PAGE_SIZE, total),
    )


@router.get("/classes/{class_id}/students/{student_id}")
def student_page(
    class_id: ClassId,
    student_id: Annotated[str, Path(max_length=128)],
    page: PageDep,
    who: SignedInDep,
    reads: ClassDashboardReadsDep,
    _fresh: FreshDashboard,
) -> Response:
    _require_teacher(who)
    dashboard = reads.dashboard(who.app, who.actor, class_id, limit=_WHOLE_CLASS)
    student = next((s for s in dashboard["students"] if s["sourcedId"] == student_id), None)
    if student is None:
        return render(
            page,
            "message.html",
            status=404,
            who=who.actor,
            title=page.t("error_title_404"),
            text=page.t("student_not_in_class"),
        )
    missing: list[dict[str, Any]] = next(
        (m["lineItems"] for m in dashboard["missingWork"] if m["student"] == student_id), []
    )
    late: list[dict[str, Any]] = next(
        (m["lineItems"] for m in dashboard["lateWork"] if m["student"] == student_id), []
    )
    return render(
        page,
        "student_progress.html",
        who=who.actor,
        d=dashboard,
        s=student,
        missing=missing,
        late=late,
        progress=progress_charts(student, dashboard["objectives"], page.t),
        item_titles={i["sourcedId"]: i["title"] for i in dashboard["lineItems"]},
        freshness=freshness(page.container, who.actor, _dashboards),
    )


# -- what the templates draw ---------------------------------------------------------------


def subject_name(curriculum: Curriculum, code: str, lang: str) -> str | None:
    """A subject's name in the page's language (KOSKI's names); None for a code it lacks."""
    try:
        subject = curriculum.subject(code)
    except UnknownSubjectError:
        return None
    return {"fi": subject.name_fi, "sv": subject.name_sv, "en": subject.name_en}[lang] or None


def _line_item_view(item: dict[str, Any]) -> dict[str, Any]:
    """A line item with the bars of its class distribution (points and grades)."""
    scores = item["scores"]
    low = item["resultValueMin"] if item["resultValueMin"] is not None else 0.0
    high = item["resultValueMax"] if item["resultValueMax"] is not None else scores.get("max")
    return {
        **item,
        "scoreBar": range_bar(scores, low=float(low), high=float(high or 0)),
        "gradeBar": range_bar(item["grades"], low=_GRADE_SCALE[0], high=_GRADE_SCALE[1]),
    }


@dataclass(frozen=True)
class ObjectiveProgress:
    code: str
    title: str
    title_lang: str
    chart: TimeChart
    points: list[tuple[str, int]]


@dataclass(frozen=True)
class Progress:
    objectives: list[ObjectiveProgress]
    grades: TimeChart | None
    grade_points: list[tuple[str, int, str | None]]


def progress_charts(
    student: dict[str, Any], objectives: list[dict[str, Any]], t: Translator
) -> Progress:
    """A small chart of levels over time per objective assessed, and one of grades.

    One chart per objective, on a shared time axis, rather than one line per objective in
    one chart: levels are whole numbers assessed on the same days, so lines would overlap,
    and telling them apart would rest on colour.
    """
    trend = student["trend"]
    days = [date.fromisoformat(p["date"]) for p in trend["attainments"] + trend["grades"]]
    if not days:
        return Progress(objectives=[], grades=None, grade_points=[])
    start, end = min(days), max(days)
    titles = {o["code"]: o["titles"] for o in objectives}
    by_objective: dict[str, list[tuple[date, float]]] = defaultdict(list)
    for point in trend["attainments"]:
        by_objective[point["objective"]].append(
            (date.fromisoformat(point["date"]), float(point["level"]))
        )
    level_labels = {float(n): str(n) for n in range(1, 5)}
    charts = []
    for code in sorted(by_objective, key=_objective_order):
        points = by_objective[code]
        chart = time_chart(
            points,
            start=start,
            end=end,
            y_min=0.6,
            y_max=4.4,
            y_labels=level_labels,
            point_label=lambda day, value: f"{t.date(day)}: {t('level_n', level=int(value))}",
            month_label=t.month,
            width=260,
            height=130,
            max_x_ticks=3,
        )
        charts.append(
            ObjectiveProgress(
                code=code,
                title=t.title(titles.get(code, {}), code),
                title_lang=t.title_lang(titles.get(code, {})),
                chart=chart,
                points=[(t.date(day), int(level)) for day, level in sorted(points)],
            )
        )
    grade_points = [(date.fromisoformat(p["date"]), float(p["grade"])) for p in trend["grades"]]
    grades = None
    if grade_points:
        grades = time_chart(
            grade_points,
            start=start,
            end=end,
            y_min=3.6,
            y_max=10.4,
            y_labels={float(g): str(g) for g in range(4, 11)},
            point_label=lambda day, value: f"{t.date(day)}: {int(value)}",
            month_label=t.month,
            width=360,
            height=200,
            max_x_ticks=4,
        )
    return Progress(
        objectives=charts,
        grades=grades,
        grade_points=[
            (t.date(date.fromisoformat(p["date"])), int(p["grade"]), p["lineItem"])
            for p in trend["grades"]
        ],
    )


def _objective_order(code: str) -> tuple[str, int, str]:
    """MA.3-6.T2 before MA.3-6.T10."""
    head, _, tail = code.rpartition(".")
    digits = "".join(c for c in tail if c.isdigit())
    return head, int(digits) if digits else 0, tail
