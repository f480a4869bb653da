"""The tenant application is its areas' commands on one core, under its lasting name."""

from __future__ import annotations

from domain.application import TenantApplication
from domain.consent_commands import ConsentCommands
from domain.gradebook_commands import GradebookCommands
from domain.privacy_commands import PrivacyCommands
from domain.roster_commands import RosterCommands
from domain.tenant_core import TenantCore


def test_the_application_keeps_the_name_that_prefixes_its_environment_settings() -> None:
    assert TenantApplication.name == "DigiOneTenant"


def test_the_application_has_the_commands_of_every_area_on_one_core() -> None:
    areas = (RosterCommands, GradebookCommands, ConsentCommands, PrivacyCommands)

    assert all(issubclass(TenantApplication, area) for area in areas)
    assert all(issubclass(area, TenantCore) for area in areas)
