"""Which retention class each kind of personal data is sealed under (GDPR art. 17(3)(b)).

Basic Education Act (628/1998) and the archive rules of education providers: final and
leaving certificates are kept permanently, year reports for the compulsory-schooling
period; working data (contact details, everyday feedback) may be erased at once.
"""

from __future__ import annotations

from datetime import date, timedelta

from domain.sealing import RetentionClass

#: Line-item categories whose verbal assessments are part of a kept record.
_CATEGORY_RETENTION = {
    "finalCertificate": RetentionClass.PERMANENT_RECORD,
    "leavingCertificate": RetentionClass.PERMANENT_RECORD,
    "yearReport": RetentionClass.COMPULSORY_SCHOOLING,
}

#: A user's identity and contact details and their demographics are working data here: the
#: certificates that must be kept are archived by the student information system.
USER_DETAILS = RetentionClass.WORKING
DEMOGRAPHICS = RetentionClass.WORKING


def for_verbal_assessment(line_item_category: str | None) -> RetentionClass:
    """The retention class of a verbal assessment given under a line item of that category."""
    if line_item_category is None:
        return RetentionClass.WORKING
    return _CATEGORY_RETENTION.get(line_item_category, RetentionClass.WORKING)


#: The legal ground for keeping each class after an erasure request (GDPR art. 17(3)(b):
#: a legal obligation to keep), shown in the erasure receipt.
KEEP_GROUNDS = {
    RetentionClass.PERMANENT_RECORD: (
        "Final and leaving certificates are kept permanently: GDPR art. 17(3)(b); Basic "
        "Education Act 628/1998 §32 and the education provider's archive decision."
    ),
    RetentionClass.COMPULSORY_SCHOOLING: (
        "Year reports are kept for the compulsory-schooling period: GDPR art. 17(3)(b); "
        "Compulsory Education Act 1214/2020 (education is compulsory until age 18)."
    ),
}

#: Compulsory education ends when the learner turns 18 (Compulsory Education Act 1214/2020).
COMPULSORY_SCHOOLING_ENDS_AT_AGE = 18
#: When the birth date is unknown (it may itself be erased), the compulsory-schooling
#: period is taken to last this long from the erasure: a conservative bound, since a pupil
#: starts school at 7 and the period ends at 18 at the latest.
UNKNOWN_BIRTH_DATE_KEEP_YEARS = 12


def kept_until(retention: RetentionClass, *, birth_date: date | None, today: date) -> date | None:
    """Until when a kept class must stay readable; None for permanently kept data."""
    if retention is RetentionClass.PERMANENT_RECORD:
        return None
    if birth_date is not None:
        # The end of the year the learner turns 18.
        return date(birth_date.year + COMPULSORY_SCHOOLING_ENDS_AT_AGE, 12, 31)
    return today + timedelta(days=365 * UNKNOWN_BIRTH_DATE_KEEP_YEARS + 3)


def may_shred_now(retention: RetentionClass) -> bool:
    """Working data goes at once on erasure; the other classes are kept by law."""
    return retention is RetentionClass.WORKING
