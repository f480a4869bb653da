"""No plaintext personal data in any byte of the database files; erased keys read as ERASED."""

from __future__ import annotations

import mmap
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.bootstrap import Container
from api.settings import Settings
from domain.application import TenantApplication
from domain.ids import aggregate_id
from domain.sealing import ERASED, RetentionClass
from tests.builders import a_school, an_assessment, put


def _database_files(settings: Settings, container: Container) -> Iterator[Path]:
    if not settings.is_postgres:
        container.tenants.close()  # checkpoint SQLite's WAL into the files as well
        yield from (p for p in settings.data_dir.rglob("*") if p.is_file())
        return
    with container.engine.connect() as connection:
        connection.execute(sa.text("CHECKPOINT"))
        data_dir = Path(connection.execute(sa.text("SHOW data_directory")).scalar_one())
        oid = connection.execute(
            sa.text("SELECT oid FROM pg_database WHERE datname = current_database()")
        ).scalar_one()
    assert (data_dir / "base").is_dir(), (
        f"cannot read PostgreSQL's data directory {data_dir}: run the tests as root or as "
        "the postgres user on the database's machine"
    )
    yield from (p for p in (data_dir / "base" / str(oid)).iterdir() if p.is_file())
    yield from (p for p in (data_dir / "pg_wal").iterdir() if p.is_file())


def _files_containing(files: Iterator[Path], needles: list[bytes]) -> list[tuple[Path, bytes]]:
    found = []
    for path in files:
        if path.stat().st_size == 0:
            continue
        with (
            path.open("rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data,
        ):
            found += [(path, n) for n in needles if data.find(n) != -1]
    return found


def test_no_plaintext_name_or_verbal_comment_reaches_any_database_file(
    client: TestClient, container: Container, tenant: str, settings: Settings
) -> None:
    marker = uuid.uuid4().hex[:10]
    given, family = f"Zelmiina{marker}", f"Quxström{marker}"
    comment = f"Erinomainen esitelmä {marker} sammakoista"
    school = a_school(client, container, tenant, student_name=(given, family))
    put(
        client,
        school.admin,
        "demographics",
        "stu-1",
        "demographics",
        {"birthDate": "2016-05-04", "cityOfBirth": f"Kaupunki{marker}"},
    )
    assert (
        client.post(
            "/api/v1/assessments", json=an_assessment(comment=comment), headers=school.teacher
        ).status_code
        == 201
    )

    put(
        client,
        school.admin,
        "orgs",
        "sch-control",
        "org",
        {"name": f"Kontrollikoulu{marker}", "type": "school", "identifier": "99"},
    )
    control = f"Kontrollikoulu{marker}".encode()  # not personal: stored in clear
    needles = [s.encode() for s in (given, family, comment, f"Kaupunki{marker}")]
    needles += [s.encode("utf-16-le") for s in (given, family)]

    found = _files_containing(_database_files(settings, container), [control, *needles])

    # The scan does see what is stored in clear, so finding nothing else means something.
    assert [needle for _, needle in found] == [control] * len(found) and found


def test_personal_data_whose_key_is_gone_reads_as_erased_and_the_aggregate_still_loads(
    client: TestClient,
    container: Container,
    tenant: str,
    app: TenantApplication,
    settings: Settings,
) -> None:
    a_school(client, container, tenant)
    subject = aggregate_id(tenant, "users", "stu-1")
    _destroy_key(settings, container, app, tenant, subject, RetentionClass.WORKING)
    app.sealer.forget_cached_key(subject, RetentionClass.WORKING)

    details = app.personal_details("stu-1")

    assert details is ERASED
    assert app.user("stu-1").guardians == ["grd-1"]
    assert app.personal_details("stu-2") is not ERASED


def _destroy_key(
    settings: Settings,
    container: Container,
    app: TenantApplication,
    tenant: str,
    subject: uuid.UUID,
    retention: RetentionClass,
) -> None:
    # Erasure proper is a later feature; here the key row is removed as erasure will.
    table = (
        f'"tenant_{tenant}".digione_subject_keys'
        if settings.is_postgres
        else "digione_subject_keys"
    )
    marker = "%s" if settings.is_postgres else "?"
    with app.factory.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
        cursor.execute(
            f"DELETE FROM {table} WHERE subject = {marker} AND retention = {marker}",
            (str(subject), retention.value),
        )
