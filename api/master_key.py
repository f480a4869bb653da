"""The master key file, and its rotation: tenant KEKs are re-wrapped, events untouched."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from domain.sealing import KEY_BYTES

NEXT_SUFFIX = ".next"
PREVIOUS_SUFFIX = ".previous"


def load_master_key(path: Path) -> bytes:
    """Reads the master key file, creating it (mode 0600) with a fresh key when absent."""
    if not path.exists():
        _write_key(path, secrets.token_bytes(KEY_BYTES))
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise SystemExit(
            f"the master key file {path} holds {len(key)} bytes, not {KEY_BYTES}: restore the "
            "right file (without it no personal data can be read) or point "
            "DIGIONE_MASTER_KEY_FILE at it"
        )
    return key


def fallback_master_keys(path: Path) -> tuple[bytes, ...]:
    """Keys of an interrupted rotation (`.next`, `.previous`), tried after the current one."""
    found = []
    for suffix in (NEXT_SUFFIX, PREVIOUS_SUFFIX):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists() and len(data := candidate.read_bytes()) == KEY_BYTES:
            found.append(data)
    return tuple(found)


def begin_rotation(path: Path) -> bytes:
    """Writes the next master key beside the current one and returns it."""
    next_path = path.with_name(path.name + NEXT_SUFFIX)
    if next_path.exists():
        return next_path.read_bytes()  # resume an interrupted rotation with the same key
    key = secrets.token_bytes(KEY_BYTES)
    _write_key(next_path, key)
    return key


def finish_rotation(path: Path) -> None:
    """Makes the next key current; the old key is deleted (rotation exists to retire it)."""
    next_path = path.with_name(path.name + NEXT_SUFFIX)
    previous = path.with_name(path.name + PREVIOUS_SUFFIX)
    os.replace(path, previous)
    os.replace(next_path, path)
    previous.unlink()


def _write_key(path: Path, key: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())


def rotate(path: Path, rewrap: Callable[[bytes], list[str]]) -> list[str]:
    """Rotates the master key at `path`: every tenant KEK is re-wrapped by `rewrap(new_key)`.

    A crash at any step leaves a state the next start reads (the `.next` and `.previous`
    keys are tried as fallbacks), and running the rotation again completes it.
    """
    new_key = begin_rotation(path)
    rotated = rewrap(new_key)
    finish_rotation(path)
    return rotated
