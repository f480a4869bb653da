"""The national curriculum seed data: objectives, subjects, grades, transversal competences."""

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable

__all__ = [
    "ContentArea",
    "Curriculum",
    "Objective",
    "Subject",
    "TransversalCompetence",
    "UnknownObjectiveError",
    "UnknownSubjectError",
    "load_curriculum",
]

# Where users of the API and the command line can see every valid code.
_HOW_TO_LIST_OBJECTIVES = (
    "GET /api/v1/curriculum/objectives lists the known codes (Curriculum.objectives() in code)"
)
_HOW_TO_LIST_SUBJECTS = "Curriculum.subjects() lists the known subject codes"

# The letter grades of the basic-education scale after the numbers: pass, fail, participated.
_LETTER_GRADE_ORDER = {"S": 0, "H": 1, "O": 2}


@dataclass(frozen=True)
class Objective:
    """One objective of a subject in one grade band of a national core curriculum.

    A local code such as ``T5`` means something different in each grade band, so the
    project code ``{subject}.{grades}.{local_code}`` (``MA.3-6.T5``) is what commands and
    events use. ``content_areas`` and ``transversal`` hold local codes (``S1``, ``L3``)
    of the same subject, grade band and curriculum.
    """

    code: str
    subject: str
    grades: str
    local_code: str
    eperusteet_id: int | None
    title_fi: str
    title_en: str
    area: str
    content_areas: tuple[str, ...]
    transversal: tuple[str, ...]
    assessment_target_fi: str
    affects_grade: bool
    curriculum: str
    #: The objective as a learner would say it ("Osaan …", "Jag kan …", "I can …"), for
    #: families and students; the project's own wording (data/SOURCES.md), "" where none.
    learner_fi: str = ""
    learner_sv: str = ""
    learner_en: str = ""

    def learner_titles(self) -> dict[str, str]:
        """The learner-facing titles there are, by language."""
        titles = {"fi": self.learner_fi, "sv": self.learner_sv, "en": self.learner_en}
        return {lang: title for lang, title in titles.items() if title}


@dataclass(frozen=True)
class ContentArea:
    """One content area (sisältöalue) of a subject in one grade band."""

    code: str
    subject: str
    grades: str
    local_code: str
    title_fi: str
    title_en: str
    curriculum: str


@dataclass(frozen=True)
class Subject:
    """A subject of general education, coded as in the KOSKI code set."""

    code: str
    name_fi: str
    name_sv: str
    name_en: str


@dataclass(frozen=True)
class TransversalCompetence:
    """One transversal competence (laaja-alainen osaaminen) of a core curriculum.

    POPS 2014 codes them L1 to L7; LOPS 2019 gives no codes, so ``code`` is None there and
    ``order`` is their order in the curriculum text.
    """

    curriculum: str
    order: int
    code: str | None
    eperusteet_id: int | None
    title_fi: str
    title_en: str


class UnknownObjectiveError(LookupError):
    """Raised when an objective code is not in the curriculum."""

    def __init__(self, code: str, *, suggestions: Iterable[str] = ()) -> None:
        self.code = code
        self.suggestions = tuple(suggestions)
        message = f"unknown curriculum objective code {code!r}"
        if self.suggestions:
            message += " (did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?)"
        message += "; codes have the form SUBJECT.GRADES.CODE, e.g. 'MA.3-6.T5'; "
        super().__init__(message + _HOW_TO_LIST_OBJECTIVES)


class UnknownSubjectError(LookupError):
    """Raised when a subject code is not in the KOSKI subject code set."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"unknown subject code {code!r}; {_HOW_TO_LIST_SUBJECTS}")


class Curriculum:
    """The curriculum known to the system, read-only once built."""

    def __init__(
        self,
        *,
        objectives: Iterable[Objective],
        subjects: Iterable[Subject],
        grades: Iterable[str],
        transversal_competences: Iterable[TransversalCompetence],
        content_areas: Iterable[ContentArea] = (),
        grade_names: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._objectives = tuple(objectives)
        _check_unique([o.code for o in self._objectives], kind="objective")
        self._objectives_by_code = {o.code: o for o in self._objectives}
        self._subjects = tuple(subjects)
        _check_unique([s.code for s in self._subjects], kind="subject")
        self._subjects_by_code = {s.code: s for s in self._subjects}
        self._grades = tuple(grades)
        self._transversal_competences = tuple(transversal_competences)
        self._content_areas = tuple(content_areas)
        self._grade_names = {g: dict(names) for g, names in (grade_names or {}).items()}

    def objectives(self, subject: str | None = None) -> list[Objective]:
        """Every objective, or only those of ``subject`` (e.g. ``"MA"``), in curriculum order."""
        return [o for o in self._objectives if subject is None or o.subject == subject]

    def objective(self, code: str) -> Objective:
        """The objective with project code ``code`` (e.g. ``"MA.3-6.T5"``)."""
        try:
            return self._objectives_by_code[code]
        except KeyError:
            raise UnknownObjectiveError(code, suggestions=self._codes_like(code)) from None

    def content_areas(self, subject: str | None = None) -> list[ContentArea]:
        """Every content area, or only those of ``subject``."""
        return [a for a in self._content_areas if subject is None or a.subject == subject]

    def subjects(self) -> list[Subject]:
        """Every subject code of general education."""
        return list(self._subjects)

    def subject(self, code: str) -> Subject:
        """The subject with KOSKI code ``code`` (e.g. ``"MA"``)."""
        try:
            return self._subjects_by_code[code]
        except KeyError:
            raise UnknownSubjectError(code) from None

    def grades(self) -> list[str]:
        """The grading scale of general education: "4" to "10", then "S", "H", "O"."""
        return list(self._grades)

    def grade_name(self, grade: str, lang: str) -> str | None:
        """What a grade means on the Finnish scale, in `lang` ("9" → "kiitettävä"); None
        for a grade or language the code set does not name."""
        return self._grade_names.get(grade, {}).get(lang)

    def transversal_competences(self, curriculum: str | None = None) -> list[TransversalCompetence]:
        """Every transversal competence, or only those of ``curriculum`` (e.g. "POPS2014")."""
        return [
            c
            for c in self._transversal_competences
            if curriculum is None or c.curriculum == curriculum
        ]

    def _codes_like(self, code: str) -> list[str]:
        """Known codes a mistyped ``code`` probably meant: other case, or no grade band."""
        parts = code.upper().split(".")
        if not parts or not parts[0]:
            return []
        subject, local_code = parts[0], parts[-1]
        return [
            o.code
            for o in self._objectives
            if o.code.upper() == code.upper()
            or (len(parts) == 2 and o.subject == subject and o.local_code == local_code)
        ]


@lru_cache(maxsize=1)
def load_curriculum() -> Curriculum:
    """The curriculum seed data shipped in this package (read once, then cached)."""
    data = files(__name__) / "data"
    learner = {
        row["code"]: row for f in _data_files(data, "_learner_titles.csv") for row in _csv_rows(f)
    }
    objectives = [o for f in _data_files(data, "_objectives.csv") for o in _read_objectives(f)]
    grades_file = data / "arviointiasteikkoyleissivistava.json"
    return Curriculum(
        objectives=[_with_learner_titles(o, learner.get(o.code)) for o in objectives],
        content_areas=[
            a for f in _data_files(data, "_content_areas.csv") for a in _read_content_areas(f)
        ],
        subjects=_read_subjects(data / "koskioppiaineetyleissivistava.json"),
        grades=_read_grades(grades_file),
        grade_names=_read_grade_names(grades_file),
        transversal_competences=[
            c
            for f in _data_files(data, "_transversal_competences.csv")
            for c in _read_transversal_competences(f)
        ],
    )


def _data_files(data: Traversable, suffix: str) -> list[Traversable]:
    return sorted((f for f in data.iterdir() if f.name.endswith(suffix)), key=lambda f: f.name)


def _csv_rows(file: Traversable) -> Iterator[dict[str, str]]:
    yield from csv.DictReader(file.read_text(encoding="utf-8").splitlines())


def _read_objectives(file: Traversable) -> Iterator[Objective]:
    for row in _csv_rows(file):
        subject, grades, local_code = row["oppiaine_koodi"], row["vuosiluokat"], row["code"]
        yield Objective(
            code=f"{subject}.{grades}.{local_code}",
            subject=subject,
            grades=grades,
            local_code=local_code,
            eperusteet_id=_optional_int(row["eperusteet_id"]),
            title_fi=row["tavoite_fi"],
            title_en=row["title_en_unofficial"],
            area=row["tavoitealue"],
            content_areas=_expand_codes(row["sisaltoalueet"]),
            transversal=_expand_codes(row["laaja_alainen"]),
            assessment_target_fi=row["arvioinnin_kohde_fi"],
            affects_grade=_boolean(row["affects_grade"]),
            curriculum=row["peruste"],
        )


def _with_learner_titles(objective: Objective, row: Mapping[str, str] | None) -> Objective:
    if row is None:
        return objective
    return replace(
        objective,
        learner_fi=row["learner_fi"],
        learner_sv=row["learner_sv"],
        learner_en=row["learner_en"],
    )


def _read_content_areas(file: Traversable) -> Iterator[ContentArea]:
    for row in _csv_rows(file):
        subject, grades, local_code = row["oppiaine_koodi"], row["vuosiluokat"], row["code"]
        yield ContentArea(
            code=f"{subject}.{grades}.{local_code}",
            subject=subject,
            grades=grades,
            local_code=local_code,
            title_fi=row["name_fi"],
            title_en=row["name_en_unofficial"],
            curriculum=row["peruste"],
        )


def _read_transversal_competences(file: Traversable) -> Iterator[TransversalCompetence]:
    # POPS 2014 rows carry a code and an ePerusteet id; LOPS 2019 rows only their order.
    for order, row in enumerate(_csv_rows(file), start=1):
        yield TransversalCompetence(
            curriculum=row["peruste"],
            order=int(row.get("order") or order),
            code=row.get("code") or None,
            eperusteet_id=_optional_int(row.get("eperusteet_id", "")),
            title_fi=row["name_fi"],
            title_en=row.get("name_en") or row.get("name_en_unofficial") or "",
        )


def _read_subjects(file: Traversable) -> list[Subject]:
    subjects = []
    for element in json.loads(file.read_text(encoding="utf-8")):
        names = _koodisto_names(element)
        subjects.append(
            Subject(
                code=element["koodiArvo"],
                name_fi=names.get("FI", ""),
                name_sv=names.get("SV", ""),
                name_en=names.get("EN", ""),
            )
        )
    return sorted(subjects, key=lambda s: s.code)


def _read_grades(file: Traversable) -> list[str]:
    grades = [element["koodiArvo"] for element in json.loads(file.read_text(encoding="utf-8"))]
    numbers = sorted((g for g in grades if g.isdigit()), key=int)
    letters = sorted(
        (g for g in grades if not g.isdigit()),
        key=lambda g: (_LETTER_GRADE_ORDER.get(g, len(_LETTER_GRADE_ORDER)), g),
    )
    return numbers + letters


#: Where the shipped (mock) code set misnames a grade: it calls both 9 and 10 "excellent" in
#: English, so a family could not tell them apart (data/SOURCES.md).
_GRADE_NAME_CORRECTIONS = {("9", "en"): "very good"}


def _read_grade_names(file: Traversable) -> dict[str, dict[str, str]]:
    names = {
        element["koodiArvo"]: {k.lower(): v for k, v in _koodisto_names(element).items()}
        for element in json.loads(file.read_text(encoding="utf-8"))
    }
    for (grade, lang), name in _GRADE_NAME_CORRECTIONS.items():
        names.setdefault(grade, {})[lang] = name
    return names


def _koodisto_names(element: dict[str, object]) -> dict[str, str]:
    """The ``nimi`` of a KOSKI code element per language (``FI``, ``SV``, ``EN``)."""
    names: dict[str, str] = {}
    metadata = element.get("metadata")
    if isinstance(metadata, list):
        for entry in metadata:
            if isinstance(entry, dict) and entry.get("nimi"):
                names[str(entry["kieli"]).upper()] = str(entry["nimi"])
    return names


def _expand_codes(text: str) -> tuple[str, ...]:
    """``"S1-S3,S5"`` → ``("S1", "S2", "S3", "S5")``; an empty cell gives ``()``."""
    codes: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        first, dash, last = item.partition("-")
        if not dash:
            codes.append(item)
            continue
        prefix = first.rstrip("0123456789")
        if last.rstrip("0123456789") != prefix:
            raise ValueError(f"code range {item!r} mixes prefixes")
        start, stop = int(first[len(prefix) :]), int(last[len(prefix) :])
        codes.extend(f"{prefix}{n}" for n in range(start, stop + 1))
    return tuple(codes)


def _optional_int(text: str) -> int | None:
    return int(text) if text.strip() else None


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"expected true or false, got {text!r}")
    return value == "true"


def _check_unique(codes: list[str], *, kind: str) -> None:
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            raise ValueError(f"duplicate {kind} code {code!r} in the curriculum data")
        seen.add(code)
