"""Seeding the demo tenant: its plan's commands issued through the application, with progress."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from api.bootstrap import Container
from api.demo.data import CONSENT_SERVICES, DEMO_ADMIN, DEMO_TENANT, DEMO_TENANT_NAME, DISTRICT
from api.demo.plan import plan_demo
from api.demo.planned import DemoPlan, DemoStep
from domain.agreement_commands import ServiceDescription
from domain.agreements import CONSENT
from domain.application import TenantApplication
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

__all__ = ["is_seeded", "seed_demo"]

#: What the progress bar shows while the steps of each kind are recorded.
_PHASES = {
    "orgs": "organisation",
    "academic sessions": "organisation",
    "courses": "organisation",
    "classes": "organisation",
    "teachers": "teachers",
    "guardians": "families",
    "students": "families",
    "demographics": "families",
    "enrollments": "enrollments",
    "line items": "gradebook",
    "results": "gradebook",
    "attainments": "gradebook",
    "consents": "consents",
}


#: Aggregates the seed keeps before one store transaction saves them: its commands decide
#: one by one as always and are saved together (`TenantCore.batched`, as a OneRoster import
#: is), their references read once per batch. Saved one at a time, the demo's 7,128
#: commands took 12.2 s on SQLite, most of it each command's own save and reads; 3.4 s so.
_BATCH = 500


class _RateColumn(ProgressColumn):
    """Commands per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} cmd/s", style="progress.data.speed")


def is_seeded(app: TenantApplication) -> bool:
    """True when the demo tenant holds its marker record (the district org)."""
    return app.find("orgs", DISTRICT) is not None


def seed_demo(container: Container, *, scale: float = 1.0, console: Console | None = None) -> bool:
    """Creates the demo tenant and seeds it once; False when it was seeded before."""
    console = console or Console(stderr=True)
    app = container.tenants.create(DEMO_TENANT, name=DEMO_TENANT_NAME)
    if is_seeded(app):
        return False
    plan = plan_demo(today=container.clock().date(), scale=scale)
    handlers = _handlers(app)
    started, first_position = time.perf_counter(), app.head_position()
    progress = Progress(
        TextColumn("[bold]{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=console,
    )
    with progress, app.batched() as batch:
        task = progress.add_task("seeding demo", total=len(plan.steps))
        phase = ""
        for step in plan.steps:
            if _PHASES[step.kind] != phase:
                phase = _PHASES[step.kind]
                progress.update(task, description=phase)
            handlers[type(step.command)](step)
            if len(batch) >= _BATCH:
                batch.flush()
            progress.advance(task)
    _register_services(app)
    elapsed = time.perf_counter() - started
    events = app.head_position() - first_position
    console.print(_summary(plan, events=events, seconds=elapsed))
    return True


def _register_services(app: TenantApplication) -> None:
    """The services a family can consent to (no secret is printed: the demo's services
    never sign in; `digione clients create` makes a real one)."""
    for service in CONSENT_SERVICES:
        app.make_agreement(
            DEMO_ADMIN,
            service=service.name,
            scopes=list(service.scopes),
            categories=list(service.categories),
            basis=CONSENT,
            schools=[],
            # The purpose its data flows for; families are asked for all it describes.
            purpose=service.purposes[0],
            description=ServiceDescription(
                title=service.title,
                descriptions=dict(service.descriptions),
                purposes=list(service.purposes),
            ),
        )


def _handlers(app: TenantApplication) -> dict[type, Callable[[DemoStep], Outcome]]:
    def command(method: Callable[[Actor, Any], Outcome]) -> Callable[[DemoStep], Outcome]:
        return lambda step: method(step.actor, step.command)

    def consent(step: DemoStep) -> Outcome:
        assert isinstance(step.command, GrantConsent)
        return app.grant_consent(step.actor, step.command, idempotency_seed=step.idempotency_seed)

    return {
        PutOrg: command(app.put_org),
        PutAcademicSession: command(app.put_academic_session),
        PutCourse: command(app.put_course),
        PutClass: command(app.put_class),
        PutUser: command(app.put_user),
        PutEnrollment: command(app.put_enrollment),
        PutDemographics: command(app.put_demographics),
        PutLineItem: command(app.put_line_item),
        RecordAssessment: command(app.record_assessment),
        RecordAttainment: command(app.record_attainment),
        GrantConsent: consent,
    }


def _summary(plan: DemoPlan, *, events: int, seconds: float) -> str:
    counts = plan.counts()
    year = plan.school_year
    parts = " · ".join(f"{count:,} {kind}" for kind, count in counts.items())
    return (
        f"demo tenant [bold]{DEMO_TENANT}[/] seeded with school year "
        f"{year.start_year}–{year.start_year + 1} in {seconds:.1f} s "
        f"({events:,} events, {len(plan.steps) / max(seconds, 1e-9):,.0f} commands/s):\n{parts}"
    )
