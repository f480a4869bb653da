"""Idempotency-Key: a retried command returns the first answer and records nothing new."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse

from api.problems import ProblemError
from domain.application import TenantApplication
from domain.commands import Actor
from domain.tenant_tables import IdempotentAnswer

_MAX_KEY = 200
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(name: str) -> threading.Lock:
    with _locks_guard:
        if len(_locks) > 10_000:
            _locks.clear()
        return _locks.setdefault(name, threading.Lock())


def run_idempotently(
    *,
    app: TenantApplication,
    actor: Actor,
    key: str | None,
    request_fingerprint: str,
    command: Callable[[str | None], tuple[int, dict[str, Any]]],
) -> JSONResponse:
    """Runs `command(seed)` once per (caller, key); repeats get the stored first answer.

    The key is also the seed of generated ids, so even a retry that raced past the stored
    answer addresses the same record instead of creating a second one.
    """
    if key is None:
        status, body = command(None)
        return JSONResponse(body, status_code=status)
    if not 0 < len(key) <= _MAX_KEY:
        raise ProblemError(
            400,
            "invalid-idempotency-key",
            "Invalid Idempotency-Key",
            f"the Idempotency-Key header must be 1–{_MAX_KEY} characters",
            field="Idempotency-Key",
        )
    principal = f"{actor.role}:{actor.subject}"
    digest = hashlib.sha256(request_fingerprint.encode()).hexdigest()
    with _lock_for(f"{actor.tenant}/{principal}/{key}"):
        answer = app.tables.find_answer(principal, key)
        if answer is None:
            status, body = command(key)
            # The code the domain keeps with an answer is, for this API, its HTTP status.
            first = IdempotentAnswer(request_hash=digest, code=status, body=json.dumps(body))
            answer = app.tables.remember_answer(principal, key, first)
            replayed = False
        else:
            replayed = True
    if answer.request_hash != digest:
        raise ProblemError(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "this Idempotency-Key was used for a different request; use a new key",
            field="Idempotency-Key",
        )
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(json.loads(answer.body), status_code=answer.code, headers=headers)
