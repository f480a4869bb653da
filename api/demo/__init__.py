"""The demo tenant that `digione serve --demo` serves: a fictional municipality, seeded once.

Everything is recorded through `TenantApplication`'s command methods (an admin writes the
roster, each class's own teacher its gradebook, guardians their consents), so the demo
obeys every rule a real tenant does. The content is planned first from a seeded random
generator and the clock (the most recent completed school year), then executed, so a
seed is deterministic for a given day and scale.

`data` holds what the demo is drawn from, `school_year` its calendar, `plan` and
`gradebook` what to create (`planned` the shapes of a plan), `seed` the issuing of it.
"""

from __future__ import annotations

from api.demo.data import (
    BOY_MIDDLE_NAMES,
    BOY_NAMES,
    CONSENT_RECIPIENT,
    DEMO_ADMIN,
    DEMO_TENANT,
    DEMO_TENANT_NAME,
    DISTRICT,
    DISTRICT_NAME,
    FAMILY_NAMES,
    GIRL_MIDDLE_NAMES,
    GIRL_NAMES,
    MEN_NAMES,
    SCHOOLS,
    WOMEN_NAMES,
    DemoSchool,
)
from api.demo.plan import plan_demo
from api.demo.planned import DemoPlan, DemoStep
from api.demo.school_year import SchoolYear, last_completed_school_year, school_year_starting
from api.demo.seed import is_seeded, seed_demo

__all__ = [
    "BOY_MIDDLE_NAMES",
    "BOY_NAMES",
    "CONSENT_RECIPIENT",
    "DEMO_ADMIN",
    "DEMO_TENANT",
    "DEMO_TENANT_NAME",
    "DISTRICT",
    "DISTRICT_NAME",
    "FAMILY_NAMES",
    "GIRL_MIDDLE_NAMES",
    "GIRL_NAMES",
    "MEN_NAMES",
    "SCHOOLS",
    "WOMEN_NAMES",
    "DemoPlan",
    "DemoSchool",
    "DemoStep",
    "SchoolYear",
    "is_seeded",
    "last_completed_school_year",
    "plan_demo",
    "school_year_starting",
    "seed_demo",
]
