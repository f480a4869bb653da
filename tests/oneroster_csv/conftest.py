"""Fixtures of the CSV import and export tests: a small school as a OneRoster 1.2 bundle.

The import's behaviour does not depend on the backend beyond the store's transactions,
which both backends' contract tests cover: these run on PostgreSQL only.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from api.bootstrap import Container, bootstrap
from api.oneroster_csv.bundle import HEADERS, Bundle, read_bundle_bytes
from api.oneroster_csv.export import export_roster, zip_bytes
from api.oneroster_csv.importer import ImportReport, import_bundle
from api.settings import Settings
from domain.application import TenantApplication
from domain.commands import Actor
from tests.conftest import FakeClock
from tests.processes import SMALL_POOL_SETTINGS
from tests.projections.in_process import apply_store_events
from tests.tenant_cleanup import drop_tenants

#: The rows of a small school, by file (headers added by `csv_files`).
SCHOOL: dict[str, list[str]] = {
    "orgs": ["sch-1,,,Koulu,school,01,dist-1", "dist-1,,,Kaupunki,district,1,"],
    "academicSessions": ["year-2026,,,2025–2026,schoolYear,2025-08-01,2026-07-31,,2026"],
    "courses": ["ma-4,,,year-2026,Matematiikka 4,MA4,04,sch-1,Matematiikka,MA"],
    "classes": ["cls-4a,,,4A,04,ma-4,4A,homeroom,,sch-1,year-2026,Matematiikka,MA,"],
    "users": [
        "tch-1,,,true,,,Tiina,Opettaja,,,tch-1@example.invalid,,,,,,,,,,,",
        "stu-1,,,true,,{SIS:1},Aino,Virtanen,,,,,,,04,,,,,,sch-1,",
        "stu-2,,,true,,,Eino,Korhonen,,,,,,grd-2,04,,,,,,sch-1,",
        "grd-1,,,true,,,Helmi,Virtanen,,,,,,stu-1,,,,,,,,",
        "grd-2,,,true,,,Onni,Korhonen,,,,,,,,,,,,,,",
    ],
    "roles": [
        "r1,,,tch-1,primary,teacher,,,sch-1,",
        "r2,,,stu-1,primary,student,,,sch-1,",
        "r3,,,stu-2,primary,student,,,sch-1,",
        "r4,,,grd-1,primary,guardian,,,sch-1,",
        "r5,,,grd-2,primary,guardian,,,sch-1,",
    ],
    "enrollments": [
        "e1,,,cls-4a,sch-1,tch-1,teacher,true,,",
        "e2,,,cls-4a,sch-1,stu-1,student,false,,",
        "e3,,,cls-4a,sch-1,stu-2,student,false,,",
    ],
    "demographics": ["stu-1,,,2016-05-04,female,true,,,,,,,FI,,Helsinki,"],
}


def csv_files(
    rows: dict[str, list[str]],
    *,
    mode: str = "bulk",
    version: str = "1.2",
    modes: dict[str, str] | None = None,
) -> dict[str, bytes]:
    """A bundle's files: each file of `rows` with its standard header, and a manifest
    giving each `mode` (or its own from `modes`)."""
    files = {
        f"{name}.csv": "\n".join([",".join(HEADERS[name]), *lines, ""]).encode()
        for name, lines in rows.items()
    }
    manifest = ["propertyName,value", "manifest.version,1.0", f"oneroster.version,{version}"]
    manifest += [f"file.{name},{(modes or {}).get(name, mode)}" for name in rows]
    files["manifest.csv"] = "\n".join([*manifest, ""]).encode()
    return files


def bundle_of(files: dict[str, bytes]) -> Bundle:
    return read_bundle_bytes(zip_bytes(files))


ImportFiles = Callable[..., ImportReport]


@pytest.fixture(scope="module")
def module_container(
    postgres_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Container]:
    """One system for the module (building one per test was most of each test's time);
    each test still has a tenant of its own."""
    settings = Settings.explicit(
        database_url=postgres_database_url,
        data_dir=tmp_path_factory.mktemp("var"),
        **SMALL_POOL_SETTINGS,
    )
    built = bootstrap(settings, clock=FakeClock(datetime(2026, 3, 2, 9, 30, tzinfo=UTC)))
    yield built
    tenants = [t for t in built.tenants.ids() if t.startswith(_PREFIX)]
    built.close()
    drop_tenants(settings, tenants)


@pytest.fixture
def container(module_container: Container) -> Container:
    return module_container


@pytest.fixture
def tenant(container: Container) -> Iterator[str]:
    """A fresh tenant per test (`tenant + "b"` is free for a second one), its store closed
    after it: each tenant's store keeps connections open, and the module's tests held 75
    of PostgreSQL's 100 before."""
    tenant_id = f"{_PREFIX}{next(_NUMBERS)}"
    container.tenants.create(tenant_id, name="Test municipality")
    yield tenant_id
    for opened in (tenant_id, tenant_id + "b"):
        container.tenants.close_tenant(opened)


#: The tenants of this run of the module start with it, so clean-up drops only its own.
_PREFIX = "c" + uuid.uuid4().hex[:10]
_NUMBERS = itertools.count()


@pytest.fixture
def admin(tenant: str) -> Actor:
    return Actor(tenant, "admin", "sis-admin")


@pytest.fixture
def import_files(app: TenantApplication, admin: Actor) -> ImportFiles:
    """Imports a bundle's files into the test's tenant; keyword arguments go to the import."""

    def run(files: dict[str, bytes], **options: object) -> ImportReport:
        return import_bundle(app, admin, bundle_of(files), **options)  # type: ignore[arg-type]

    return run


Export = Callable[[TenantApplication, str], dict[str, bytes]]


@pytest.fixture
def export(container: Container) -> Export:
    """Exports a tenant's roster as a bundle's files, its read model brought up to date
    first (the events applied in process, as the runner applies them)."""
    projection = container.projections.roster
    projection.metadata.create_all(container.engine)
    applied: dict[str, int] = {}

    def run(app: TenantApplication, recipient: str) -> dict[str, bytes]:
        applied[app.tenant] = apply_store_events(
            container, app, [projection], after=applied.get(app.tenant, 0)
        )
        files, _report = export_roster(
            engine=container.engine,
            tables=projection.tables,
            sealer=app.sealer,
            disclosures=container.disclosures,
            actor=Actor(app.tenant, "admin", "exporter"),
            recipient=recipient,
        )
        return files

    return run
