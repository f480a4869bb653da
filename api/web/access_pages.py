"""The right of access as a page (GDPR art. 15 and 20): a guardian (for a minor child) and a
student from 15 read what is recorded about the student, by whom, who received it and on
what basis, what was erased and what is kept until when, and download it as JSON.

Both read the same export as GET /api/v1/subjects/{id}/export (projections/reads/
subject_export.py), in its portable form (projections/reads/portable_export.py), and are
refused by the same rule (`right_of_access`), before any wait for the subject index.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from starlette.responses import Response

from api.deps import PageLabelReadsDep, SubjectExportsDep
from api.web.rendering import FreshPage, PageDep, PageRoute, render
from api.web.session import SignedInDep
from projections.catalogue import ProjectionCatalogue
from projections.reads.access import require_role
from projections.reads.consent_services import ConsentServiceReads
from projections.reads.portable_export import RECORD_KINDS, portable_export
from projections.reads.subject_export import REFUSED, right_of_access
from projections.subject_index import SubjectIndexProjection

router = APIRouter(prefix="/ui/guardian/children", route_class=PageRoute)

StudentId = Annotated[str, Path(max_length=128)]
_SERVICES = ConsentServiceReads()


def _index(projections: ProjectionCatalogue) -> SubjectIndexProjection:
    return projections.subject_index


def basis_of_access(student_id: StudentId, who: SignedInDep) -> str:
    """The caller's basis for the export; refused (a 403 page) for anyone without one. The
    pages are the family's: an admin reads the export through the API."""
    require_role(who.actor, ("guardian", "student"), REFUSED)
    return right_of_access(who.actor, who.app, student_id)


Basis = Annotated[str, Depends(basis_of_access)]
# Declared after Basis in each route: a caller without a right of access never waits.
FreshIndex = Annotated[None, Depends(FreshPage(_index, roles=("guardian", "student")))]


@router.get("/{student_id}/access")
def access_page(
    student_id: StudentId,
    page: PageDep,
    who: SignedInDep,
    exports: SubjectExportsDep,
    labels: PageLabelReadsDep,
    basis: Basis,
    _fresh: FreshIndex,
) -> Response:
    document = portable_export(exports.export(who.app, who.actor, student_id, basis=basis))
    people = {r for record in document["records"] for r in record["recordedBy"]}
    people |= {d["recipient"] for d in document["disclosures"] if d["recipientRole"] != "service"}
    people |= {e["requestedBy"] for e in document["erasures"] if e["requestedBy"]}
    names = labels.names(who.app, who.actor, people | {student_id}, disclosed=[student_id])
    known = _SERVICES.known(who.app, who.actor).values()
    # A service's deliveries are recorded under its client id (`name@tenant`).
    services = {s.service: s.title for s in known}
    services |= {who.app.client_id_of(s.service): s.title for s in known}
    return render(
        page,
        "access.html",
        who=who.actor,
        student=student_id,
        name=names.get(student_id),
        document=document,
        kinds=[
            (kind, [r for r in document["records"] if r["kind"] == kind]) for kind in RECORD_KINDS
        ],
        names=names,
        services=services,
    )


@router.get("/{student_id}/access.json")
def access_json(
    student_id: StudentId,
    who: SignedInDep,
    exports: SubjectExportsDep,
    basis: Basis,
    _fresh: FreshIndex,
) -> Response:
    """The portable export as a file to keep (GDPR art. 20: a structured, common format)."""
    document: dict[str, Any] = portable_export(
        exports.export(who.app, who.actor, student_id, basis=basis)
    )
    return Response(
        json.dumps(document, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="digione-{student_id}.json"',
        },
    )
