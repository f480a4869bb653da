"""The projections this installation runs: what the runner, status, rebuild and reads work on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from projections.base import Projection
from projections.class_dashboard import ClassDashboardProjection
from projections.guardian_view import GuardianViewProjection
from projections.roster import RosterProjection
from projections.subject_index import SubjectIndexProjection

__all__ = ["ProjectionCatalogue"]


@dataclass(frozen=True)
class ProjectionCatalogue:
    """One instance of every projection, built once by the composition root.

    Reads name the projection they read (`catalogue.class_dashboard`), so the tables a
    route queries are those the runner writes; the runner, status and rebuild take `all`.
    """

    roster: RosterProjection = field(default_factory=RosterProjection)
    subject_index: SubjectIndexProjection = field(default_factory=SubjectIndexProjection)
    class_dashboard: ClassDashboardProjection = field(default_factory=ClassDashboardProjection)
    guardian_view: GuardianViewProjection = field(default_factory=GuardianViewProjection)

    @classmethod
    def at(cls, clock: Callable[[], datetime]) -> ProjectionCatalogue:
        """The projections, those that render by the time (the class dashboard's pages)
        reading `clock`: the composition root's clock, which the reads read too."""
        return cls(class_dashboard=ClassDashboardProjection(clock=clock))

    @property
    def all(self) -> list[Projection]:
        """Every projection, in the order status lists them."""
        return [self.roster, self.subject_index, self.class_dashboard, self.guardian_view]
