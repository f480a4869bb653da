"""Finnish personal identity codes (henkilötunnus): recognised so they are never stored.

A roster has no need of them (the sourcedId and the SIS's own ids identify a person), and a
leaked identity code is a lasting harm (it cannot be changed), so a roster write that
carries one in `userIds` is refused. The form is DDMMYY, a century sign (`+` 1800s, `-` or
Y X W V U 1900s, A–F 2000s; Government Decree 128/2010 as amended 2023), an individual
number NNN and a check character: the remainder of DDMMYYNNN modulo 31 in
0123456789ABCDEFHJKLMNPRSTUVWXY.
"""

from __future__ import annotations

import re
from datetime import date

__all__ = ["contains_identity_code", "is_identity_code"]

_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_CENTURY = {"+": 1800, "-": 1900, "A": 2000}
_CENTURY.update(dict.fromkeys("YXWVU", 1900))
_CENTURY.update(dict.fromkeys("BCDEF", 2000))
_PATTERN = re.compile(
    r"(?<![0-9A-Za-z])(\d{2})(\d{2})(\d{2})([-+A-FYXWVU])(\d{3})([0-9A-Y])(?![0-9A-Za-z])"
)


def _valid(day: str, month: str, year: str, sign: str, number: str, check: str) -> bool:
    try:
        date(_CENTURY[sign] + int(year), int(month), int(day))
    except ValueError:
        return False
    return _CHECK[int(day + month + year + number) % 31] == check


def is_identity_code(text: str) -> bool:
    """True when `text` (stripped, any case) is a Finnish personal identity code."""
    match = _PATTERN.fullmatch(text.strip().upper())
    return match is not None and _valid(*match.groups())


def contains_identity_code(text: str) -> bool:
    """True when a Finnish personal identity code appears anywhere in `text`."""
    return any(_valid(*m.groups()) for m in _PATTERN.finditer(text.upper()))
