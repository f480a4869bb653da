"""Which retention class each kind of personal data is sealed under (GDPR art. 17(3)(b)).

Basic Education Act (628/1998) and the archive rules of education providers: final and
leaving certificates are kept permanently, year reports for the compulsory-schooling
period; working data (contact details, everyday feedback) may be erased at once.
"""

from __future__ import annotations

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
