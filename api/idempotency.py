"""Idempotency-Key: a retried command returns the first answer and records nothing new.

The key's answer is stored in the transaction of the command's events (`domain.keyed`), so
the command is recorded with its answer or not at all. The key's row decides between
concurrent requests with one key, in this process or another: the one whose transaction
commits first records the command; the others record nothing and give its answer. A
request that meets a key whose first request is still running waits for it (a PostgreSQL
row lock, or SQLite's write lock), so no request is told "in progress".
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse

from api.problems import ProblemError
from domain.application import TenantApplication
from domain.commands import Actor, Outcome
from domain.keyed import KeyAnsweredError, KeyedCommand
from domain.tenant_tables import IdempotentAnswer

_MAX_KEY = 200
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()

#: What a command's outcome is answered: the HTTP status and the JSON body.
Answer = Callable[[Outcome], tuple[int, dict[str, Any]]]


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
    command: Callable[[str | None], Outcome],
    answer: Answer,
) -> JSONResponse:
    """Runs `command(seed)` once per (caller, key) and answers `answer(outcome)`; repeats
    get the stored first answer.

    The key is also the seed of generated ids, so even a retry that raced past the stored
    answer addresses the same record instead of creating a second one.
    """
    if key is None:
        status, body = answer(command(None))
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

    def rendered(outcome: Outcome) -> tuple[int, str]:
        # The code the domain keeps with an answer is, for this API, its HTTP status.
        status, body = answer(outcome)
        return status, json.dumps(body)

    # Only an optimisation now: concurrent requests with one key in this process queue here
    # instead of computing the command in parallel; the key's row decides across processes.
    with _lock_for(f"{actor.tenant}/{principal}/{key}"):
        stored = app.tables.find_answer(principal, key)
        replayed = stored is not None
        if stored is None:
            stored, replayed = _run(app, principal, key, digest, rendered, command)
    if stored.request_hash != digest:
        raise ProblemError(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "this Idempotency-Key was used for a different request; use a new key",
            field="Idempotency-Key",
        )
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(json.loads(stored.body), status_code=stored.code, headers=headers)


def _run(
    app: TenantApplication,
    principal: str,
    key: str,
    digest: str,
    rendered: Callable[[Outcome], tuple[int, str]],
    command: Callable[[str | None], Outcome],
) -> tuple[IdempotentAnswer, bool]:
    """Runs the keyed command; the answer stored with its events and whether it is another
    request's (one that won the key while this one ran)."""
    try:
        with app.keyed(KeyedCommand(principal, key, digest, rendered)) as run:
            outcome = command(key)
    except KeyAnsweredError as answered:
        return answered.answer, True
    if run.answer is not None:
        return run.answer, False
    # The command saved nothing at all (no transaction to store the answer in): its own
    # small transaction is enough, since nothing else is written.
    status, body = rendered(outcome)
    kept = app.tables.remember_answer(principal, key, IdempotentAnswer(digest, status, body))
    return kept, kept.body != body or kept.code != status
