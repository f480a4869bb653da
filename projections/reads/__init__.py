"""Read services: what the routers, the web pages, the CLI and the OneRoster provider call.

Each read authorises the caller, reads through its projection's query functions, opens the
sealed personal data with the tenant's sealer, records the disclosure and returns the
answer's shape (plain JSON values). None of it knows HTTP: refusals and unavailability are
named errors (projections/reads/access.py, disclosures.py) that the API maps to problems
in one table (api/problems.py).

A service is a ReadService (read_service.py) of its projection: class_dashboard.py,
guardian_view.py, roster_records.py, subject_export.py; erasure_receipt.py reads every
projection's erasure confirmations.
"""
