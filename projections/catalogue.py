"""The projections this installation runs: what the runner, status and rebuild work on."""

from __future__ import annotations

from projections.base import Projection
from projections.class_dashboard import ClassDashboardProjection
from projections.guardian_view import GuardianViewProjection
from projections.roster import RosterProjection
from projections.subject_index import SubjectIndexProjection

__all__ = ["all_projections"]


def all_projections() -> list[Projection]:
    """A fresh instance of every projection, in the order status lists them."""
    return [
        RosterProjection(),
        SubjectIndexProjection(),
        ClassDashboardProjection(),
        GuardianViewProjection(),
    ]
