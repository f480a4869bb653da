"""Reading a OneRoster CSV bundle (zip or folder): the manifest and each file's rows.

Pure: bytes and file names in, rows and notes out; nothing here knows a tenant or a store.
The binding is OneRoster 1.2 CSV (1.2.1 is its errata level; 1.1 bundles are tolerated):
`manifest.csv` with `propertyName,value` rows, `file.<name>` set to absent, bulk or delta,
and one RFC 4180 UTF-8 file per collection with the headers of the standard.

Real exports are less tidy than the binding, so the quirks seen in the wild are tolerated
and reported (a BOM, upper-case booleans or file names, manifest version 1.2.1,
misspelled headers), each as a `Note` with its file, row and column.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DEFAULT_MAX_DELETION_SHARE",
    "FILE_ORDER",
    "HEADERS",
    "Bundle",
    "BundleError",
    "CsvFile",
    "Note",
    "read_bundle",
    "read_bundle_bytes",
]

#: The rostering files an import reads, in the order their references need.
FILE_ORDER = (
    "orgs",
    "academicSessions",
    "courses",
    "classes",
    "users",
    "roles",
    "enrollments",
    "demographics",
)

#: OneRoster 1.2 CSV headers in the standard's exact order (rostering files).
HEADERS: dict[str, tuple[str, ...]] = {
    "academicSessions": (
        "sourcedId", "status", "dateLastModified", "title", "type", "startDate", "endDate",
        "parentSourcedId", "schoolYear",
    ),
    "orgs": (
        "sourcedId", "status", "dateLastModified", "name", "type", "identifier",
        "parentSourcedId",
    ),
    "courses": (
        "sourcedId", "status", "dateLastModified", "schoolYearSourcedId", "title", "courseCode",
        "grades", "orgSourcedId", "subjects", "subjectCodes",
    ),
    "classes": (
        "sourcedId", "status", "dateLastModified", "title", "grades", "courseSourcedId",
        "classCode", "classType", "location", "schoolSourcedId", "termSourcedIds", "subjects",
        "subjectCodes", "periods",
    ),
    "users": (
        "sourcedId", "status", "dateLastModified", "enabledUser", "username", "userIds",
        "givenName", "familyName", "middleName", "identifier", "email", "sms", "phone",
        "agentSourcedIds", "grades", "password", "userMasterIdentifier", "preferredGivenName",
        "preferredMiddleName", "preferredFamilyName", "primaryOrgSourcedId", "pronouns",
    ),
    "roles": (
        "sourcedId", "status", "dateLastModified", "userSourcedId", "roleType", "role",
        "beginDate", "endDate", "orgSourcedId", "userProfileSourcedId",
    ),
    "enrollments": (
        "sourcedId", "status", "dateLastModified", "classSourcedId", "schoolSourcedId",
        "userSourcedId", "role", "primary", "beginDate", "endDate",
    ),
    "demographics": (
        "sourcedId", "status", "dateLastModified", "birthDate", "sex",
        "americanIndianOrAlaskaNative", "asian", "blackOrAfricanAmerican",
        "nativeHawaiianOrOtherPacificIslander", "white", "demographicRaceTwoOrMoreRaces",
        "hispanicOrLatinoEthnicity", "countryOfBirthCode", "stateOfBirthAbbreviation",
        "cityOfBirth", "publicSchoolResidenceStatus",
    ),
}  # fmt: skip

#: The OneRoster 1.1 users.csv: roles were columns of the user then.
USERS_1_1 = (
    "sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds", "role",
    "username", "userIds", "givenName", "familyName", "middleName", "identifier", "email",
    "sms", "phone", "agentSourcedIds", "grades", "password",
)  # fmt: skip

#: Every data file the 1.2 binding names (the manifest lists each; we import the rostering ones).
ALL_FILES = (
    "academicSessions", "categories", "classes", "classResources", "courseResources", "courses",
    "demographics", "enrollments", "lineItemLearningObjectiveIds", "lineItems",
    "lineItemScoreScales", "orgs", "resources", "resultLearningObjectiveIds", "results",
    "resultScoreScales", "roles", "scoreScales", "userProfiles", "userResources", "users",
)  # fmt: skip

#: Header misspellings seen in real exports, and the header they stand for.
_MISSPELLINGS = {
    "prefferedgivenname": "preferredGivenName",
    "prefferedmiddlename": "preferredMiddleName",
    "prefferedfamilyname": "preferredFamilyName",
    "datalastmodified": "dateLastModified",
}
#: The columns without which a row cannot be read; a missing other column reads as empty.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "orgs": ("sourcedId", "name", "type"),
    "academicSessions": ("sourcedId", "title", "type", "startDate", "endDate", "schoolYear"),
    "courses": ("sourcedId", "title", "courseCode"),
    "classes": ("sourcedId", "title", "courseSourcedId", "schoolSourcedId", "termSourcedIds"),
    "users": ("sourcedId", "givenName", "familyName"),
    "roles": ("sourcedId", "userSourcedId", "roleType", "role", "orgSourcedId"),
    "enrollments": ("sourcedId", "classSourcedId", "schoolSourcedId", "userSourcedId", "role"),
    "demographics": ("sourcedId",),
}
_VERSIONS = {"1.2": None, "1.2.1": "manifest version 1.2.1 (the errata level) read as 1.2"}
MODES = ("absent", "bulk", "delta")
#: The share of a collection a bulk file may mark tobedeleted without being told to (here,
#: not in the importer, so that the command line's options need not load the importer).
DEFAULT_MAX_DELETION_SHARE = 0.1


class BundleError(ValueError):
    """Raised when a bundle cannot be read at all (no manifest, not a zip, not UTF-8 …)."""


@dataclass(frozen=True)
class Note:
    """A quirk tolerated, or a row refused: where (file, row, column) and what."""

    file: str
    row: int | None
    column: str | None
    reason: str

    def as_json(self) -> dict[str, object]:
        return {"file": self.file, "row": self.row, "column": self.column, "reason": self.reason}


@dataclass
class CsvFile:
    """One data file: its mode from the manifest and its rows (row 1 is the header)."""

    name: str
    mode: str
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)


@dataclass
class Bundle:
    """A bundle as read: OneRoster version, source system, the rostering files, notes."""

    version: str
    source: str | None
    files: dict[str, CsvFile]
    quirks: list[Note] = field(default_factory=list)
    #: Files present that this import does not read (gradebook, resources, userProfiles).
    ignored: list[str] = field(default_factory=list)


def read_bundle(path: Path) -> Bundle:
    """Reads a bundle from a zip file or a folder."""
    if path.is_dir():
        files = {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}
        return _bundle(files)
    if not path.exists():
        raise BundleError(f"{path} does not exist: give a OneRoster CSV zip or folder")
    return read_bundle_bytes(path.read_bytes())


def read_bundle_bytes(data: bytes) -> Bundle:
    """Reads a bundle from the bytes of a zip file."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            files = {
                Path(info.filename).name: archive.read(info)
                for info in archive.infolist()
                if not info.is_dir()
            }
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as error:
        raise BundleError(f"the bundle is not a readable zip file ({error})") from None
    return _bundle(files)


def _bundle(raw: dict[str, bytes]) -> Bundle:
    quirks: list[Note] = []
    by_lower = {name.lower(): name for name in raw}
    manifest_name = by_lower.get("manifest.csv")
    if manifest_name is None:
        raise BundleError(
            "the bundle has no manifest.csv: a OneRoster CSV bundle names its files and "
            "their mode (bulk or delta) in manifest.csv"
        )
    manifest = _manifest(_rows("manifest", raw[manifest_name], quirks))
    version = manifest.get("oneroster.version", "")
    if version in _VERSIONS:
        note = _VERSIONS[version]
        if note:
            quirks.append(Note("manifest", None, "oneroster.version", note))
    elif version.startswith("1.1"):
        quirks.append(Note("manifest", None, "oneroster.version", "a OneRoster 1.1 bundle"))
    else:
        raise BundleError(
            f"manifest.csv says oneroster.version {version!r}: this import reads OneRoster "
            "1.2 (and 1.1) bundles"
        )
    files: dict[str, CsvFile] = {}
    ignored: list[str] = []
    for name in ALL_FILES:
        mode = manifest.get(f"file.{name}", "absent").strip().lower()
        if mode not in MODES:
            raise BundleError(
                f"manifest.csv gives file.{name} the mode {mode!r}: use absent, bulk or delta"
            )
        found = by_lower.get(f"{name.lower()}.csv")
        if found is not None and found != f"{name}.csv":
            quirks.append(Note(name, None, None, f"file named {found!r}, read as {name}.csv"))
        if mode == "absent":
            if found is not None:
                quirks.append(Note(name, None, None, "file present but absent in the manifest"))
            continue
        if found is None:
            quirks.append(Note(name, None, None, f"the manifest says {mode} but there is no file"))
            continue
        if name not in HEADERS:
            ignored.append(name)
            continue
        files[name] = _data_file(name, mode, raw[found], version, quirks)
    source = manifest.get("source.systemCode") or manifest.get("source.systemName") or None
    return Bundle(version=version, source=source, files=files, quirks=quirks, ignored=ignored)


def _manifest(rows: list[tuple[int, list[str]]]) -> dict[str, str]:
    manifest: dict[str, str] = {}
    for _line, cells in rows[1:]:
        if len(cells) >= 2 and cells[0].strip():
            manifest[cells[0].strip()] = cells[1].strip()
    return manifest


def _text(file: str, data: bytes, quirks: list[Note]) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        quirks.append(Note(file, None, None, "UTF-8 byte order mark (BOM) ignored"))
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BundleError(
            f"{file}.csv is not UTF-8 (byte {error.start}): export it as UTF-8"
        ) from None
    # CRLF (RFC 4180's line end, as `digione export` writes) and LF read alike, unremarked.
    return text


def _rows(file: str, data: bytes, quirks: list[Note]) -> list[tuple[int, list[str]]]:
    """The file's records, each with the line it starts on (a quoted field may span lines)."""
    reader = csv.reader(io.StringIO(_text(file, data, quirks), newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as error:
        raise BundleError(
            f"{file}.csv is not valid CSV at line {reader.line_num}: {error}"
        ) from None
    return rows


def _data_file(name: str, mode: str, data: bytes, version: str, quirks: list[Note]) -> CsvFile:
    rows = _rows(name, data, quirks)
    if not rows:
        raise BundleError(f"{name}.csv is empty: it needs at least its header row")
    header = [_header(name, cell, quirks) for cell in rows[0][1]]
    one_one = name == "users" and "orgSourcedIds" in header
    required = (*_REQUIRED[name], *(("orgSourcedIds", "role") if one_one else ()))
    missing = [column for column in required if column not in header]
    if missing:
        expected = USERS_1_1 if one_one else HEADERS[name]
        raise BundleError(
            f"{name}.csv lacks the column(s) {', '.join(missing)}; OneRoster {version} "
            f"names its columns in this order: {','.join(expected)}"
        )
    for column in USERS_1_1 if one_one else HEADERS[name]:
        if column not in header and column not in ("status", "dateLastModified", "password"):
            quirks.append(Note(name, 1, column, "column missing: read as empty"))
    parsed = CsvFile(name=name, mode=mode)
    for line, cells in rows[1:]:
        values = {h: cells[i].strip() if i < len(cells) else "" for i, h in enumerate(header)}
        parsed.rows.append((line, values))
    return parsed


def _header(file: str, cell: str, quirks: list[Note]) -> str:
    name = cell.strip()
    known = {c.lower(): c for c in (*HEADERS[file], *(USERS_1_1 if file == "users" else ()))}
    if name in known.values() or name.startswith("metadata."):
        return name
    wanted = known.get(name.lower()) or _MISSPELLINGS.get(name.lower())
    if wanted is not None:
        quirks.append(Note(file, 1, name, f"header {name!r} read as {wanted!r}"))
        return wanted
    return name
