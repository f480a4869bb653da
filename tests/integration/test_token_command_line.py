"""`digione token issue` and the admin token of `serve --demo`: the token printed exactly (one
line, never wrapped), a lifetime that is no lifetime refused, and a warning when the roster
does not know the person the token is for."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import jwt
import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner, Result

from api import cli
from api.app import create_app
from api.bootstrap import Container, bootstrap
from api.demo import DEMO_TENANT
from api.settings import Settings
from api.tokens import token_id
from tests.builders import a_school
from tests.tenant_cleanup import drop_tenants

#: Narrower than any token: rich would wrap a token printed as text here.
NARROW = 40


@dataclass(frozen=True)
class CommandLineSchool:
    """A tenant on PostgreSQL with a_school's roster (teacher tch-1, students stu-1 and stu-2,
    guardian grd-1 of stu-1), and the settings the command line runs with."""

    settings: Settings
    container: Container
    tenant: str


@pytest.fixture(scope="module")
def school(
    tmp_path_factory: pytest.TempPathFactory, postgres_database_url: str
) -> Iterator[CommandLineSchool]:
    """One school for the module: the commands only read it. PostgreSQL only, as what the
    command prints does not depend on the store."""
    settings = Settings.explicit(
        database_url=postgres_database_url, data_dir=tmp_path_factory.mktemp("cli") / "var"
    )
    tenant = "c" + uuid.uuid4().hex[:10]
    container = bootstrap(settings)
    container.tenants.create(tenant, name="Test municipality")
    try:
        with TestClient(create_app(container)) as client:
            a_school(client, container, tenant)
        yield CommandLineSchool(settings, container, tenant)
    finally:
        container.close()
        drop_tenants(settings, [tenant])


def issue(school: CommandLineSchool, *args: str) -> Result:
    """`digione token issue --tenant T ARGS` in a terminal NARROW columns wide."""
    env: dict[str, str | None] = {
        **{name: None for name in os.environ if name.startswith("DIGIONE_")},
        "DIGIONE_DATABASE_URL": school.settings.database_url,
        "DIGIONE_DATA_DIR": str(school.settings.data_dir),
        "COLUMNS": str(NARROW),
    }
    command = ["token", "issue", "--tenant", school.tenant, *args]
    return CliRunner().invoke(cli.app, command, env=env)


def test_token_issue_prints_the_token_alone_on_one_unwrapped_line_of_standard_output(
    school: CommandLineSchool,
) -> None:
    result = issue(school, "--role", "admin", "--subject", "admin-1")

    assert result.exit_code == 0, result.stderr
    token = result.stdout.removesuffix("\n")
    assert len(token) > NARROW and "\n" not in token
    actor = school.container.tokens.verify(token)
    assert (actor.tenant, actor.role, actor.subject) == (school.tenant, "admin", "admin-1")
    assert result.stderr == f"token id (for `digione token revoke --jti`): {token_id(token)}\n"


def test_the_demo_admin_token_of_serve_stands_whole_on_its_own_line(
    school: CommandLineSchool,
) -> None:
    container = school.container
    shown = io.StringIO()
    console = Console(file=shown, width=NARROW, force_terminal=True, color_system=None)

    token = cli.show_demo_admin_token(container, console=console)

    lines = shown.getvalue().splitlines()
    assert lines[-1] == token
    assert container.tokens.verify(token).tenant == DEMO_TENANT
    assert container.tokens.verify(token).role == "admin"


@pytest.mark.parametrize("ttl", ["0", "-5", "1000000000000"])
def test_token_issue_refuses_a_lifetime_that_is_not_a_positive_number_of_seconds(
    school: CommandLineSchool, ttl: str
) -> None:
    result = issue(school, "--role", "teacher", "--subject", "tch-1", "--ttl", ttl)

    assert result.exit_code == 2
    assert result.stdout == ""
    message = " ".join(result.stderr.split())
    assert message.startswith("error: --ttl: a token's lifetime")
    assert ttl in message


def test_token_issue_gives_the_asked_lifetime(
    school: CommandLineSchool,
) -> None:
    result = issue(school, "--role", "admin", "--subject", "admin-1", "--ttl", "60")

    assert result.exit_code == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60


@pytest.mark.parametrize(
    ("role", "subject", "warning"),
    [
        ("teacher", "tch-99", "the roster of {tenant} has no user 'tch-99'"),
        ("teacher", "stu-1", "the roster of {tenant} knows 'stu-1' as student, not as a teacher"),
        ("student", "[red]x y", "'[red]x y' is not a valid sourcedId"),
    ],
)
def test_token_issue_warns_when_the_roster_does_not_know_the_person_in_that_role(
    school: CommandLineSchool, role: str, subject: str, warning: str
) -> None:
    result = issue(school, "--role", role, "--subject", subject)

    assert result.exit_code == 0, result.stderr
    assert school.container.tokens.verify(result.stdout.strip()).subject == subject
    first_line = result.stderr.splitlines()[0]
    assert first_line.startswith("warning: " + warning.format(tenant=school.tenant))
    # One line however narrow the terminal: the warning's end is on its first line.
    assert f"the token is issued, but it shows this {role} nothing" in first_line


@pytest.mark.parametrize(
    ("role", "subject"), [("teacher", "tch-1"), ("guardian", "grd-1"), ("admin", "admin-1")]
)
def test_token_issue_says_nothing_more_for_a_person_the_roster_knows_in_that_role(
    school: CommandLineSchool, role: str, subject: str
) -> None:
    result = issue(school, "--role", role, "--subject", subject)

    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr
