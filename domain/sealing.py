"""Sealed personal data: AES-256-GCM under one key per data subject and retention class.

Personal data is sealed in the application layer before an event is created, so the stored
and published bytes hold only ciphertext. Each subject key is wrapped by the tenant's
key-encryption key (KEK); the KEK is wrapped by a key derived from the installation's master
key. Destroying a subject key (erasure) or the tenant KEK (offboarding) makes the data
unreadable everywhere at once: that is crypto-shredding.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any, Final, Protocol, final
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12


class RetentionClass(str, Enum):
    """How long the law requires a piece of personal data to be kept (GDPR art. 17(3))."""

    #: Final and leaving certificates: kept permanently.
    PERMANENT_RECORD = "permanent"
    #: Year reports and the like: kept for the compulsory-schooling period.
    COMPULSORY_SCHOOLING = "compulsory"
    #: Everything else: erased at once on request.
    WORKING = "working"


@dataclass(frozen=True, slots=True)
class SealedValue:
    """Ciphertext of one group of personal fields, with the reference to its key."""

    subject: UUID
    retention: RetentionClass
    nonce: bytes
    ciphertext: bytes

    def __repr__(self) -> str:  # never print ciphertext into logs either
        return f"SealedValue(subject={self.subject}, retention={self.retention.value})"


@final
class Erased:
    """The marker a reader gets for personal data whose key has been destroyed."""

    _instance: Erased | None = None

    def __new__(cls) -> Erased:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ERASED"

    def __bool__(self) -> bool:
        return False


ERASED: Final = Erased()


class SealingError(Exception):
    """Raised when sealed data cannot be opened for a reason other than erasure (tampering)."""


class KeyStore(Protocol):
    """Where wrapped keys live: a table beside the tenant's events."""

    def load_tenant_kek(self) -> bytes | None:
        """The tenant KEK, wrapped by the master key, or None before the first seal."""

    def store_tenant_kek(self, wrapped: bytes) -> bytes:
        """Stores the wrapped KEK unless one exists; returns the one that is stored."""

    def load_subject_key(self, subject: UUID, retention: RetentionClass) -> bytes | None:
        """The wrapped key of a subject and retention class, or None if absent or shredded."""

    def store_subject_key(
        self, subject: UUID, retention: RetentionClass, wrapped: bytes
    ) -> bytes | None:
        """Stores the wrapped key unless one exists; returns the one that is stored, or
        None when the key is on the erasure list (nothing is stored then)."""

    def load_subject_keys(
        self, subjects: list[UUID], retention: RetentionClass
    ) -> tuple[dict[UUID, bytes], set[UUID]]:
        """Many subjects' wrapped keys at once: the live ones by subject, and the subjects
        whose key is on the erasure list."""

    def subject_key_was_shredded(self, subject: UUID, retention: RetentionClass) -> bool:
        """True when the key is on the erasure list (it must never be created again)."""

    def tenant_kek_was_shredded(self) -> bool:
        """True when the tenant was offboarded: its KEK is destroyed for good."""


def _derive(master_key: bytes, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info.encode()).derive(
        master_key
    )


def derive_signing_key(master_key: bytes) -> bytes:
    """A key for signing bearer tokens, derived from (never equal to) the master key."""
    return _derive(master_key, "digione/token-signing/v1")


@lru_cache(maxsize=1 << 16)
def _aad(tenant: str, subject: UUID, retention: RetentionClass) -> bytes:
    """The associated data of a subject's sealed values (a read opens a page of them:
    each subject's made once, not once per value)."""
    return f"{tenant}:{subject}:{retention.value}".encode()


def _loads(plaintext: bytes) -> Any:
    """The sealed mapping: orjson where it can (a read opens a page of values at once),
    json for what orjson refuses (integers beyond 64 bits, NaN), so every value opens as
    it was sealed."""
    try:
        return orjson.loads(plaintext)
    except orjson.JSONDecodeError:
        return json.loads(plaintext)


def _wrap(kek: bytes, key: bytes, aad: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, key, aad.encode())


def _unwrap(kek: bytes, wrapped: bytes, aad: str) -> bytes:
    try:
        return AESGCM(kek).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad.encode())
    except InvalidTag as error:
        raise SealingError(
            f"a wrapped key failed authentication ({aad}): the key store was altered "
            "or the master key file is not the one this store was created with"
        ) from error


@dataclass(slots=True)
class _CachedKey:
    """A subject key as the cache holds it: when it was read, the key (None: erased or
    never made), and its AES-GCM cipher once a seal or an unseal wanted it (making one
    costs twice the decryption of a name: a page opens a hundred). Dropped with the key."""

    at: float
    key: bytes | None
    cipher: AESGCM | None = None


class Sealer:
    """Seals and opens personal data of one tenant; caches unwrapped keys briefly."""

    def __init__(
        self,
        *,
        tenant: str,
        master_key: bytes,
        key_store: KeyStore,
        fallback_master_keys: tuple[bytes, ...] = (),
        key_cache_seconds: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(master_key) != KEY_BYTES:
            raise ValueError(f"the master key must be {KEY_BYTES} bytes, got {len(master_key)}")
        self.tenant = tenant
        self._master_wrap_key = _derive(master_key, "digione/tenant-kek-wrap/v1")
        # During a master-key rotation a tenant KEK may be wrapped by the next or the
        # previous master key for a moment; those are tried after the current one.
        self._fallback_wrap_keys = tuple(
            _derive(k, "digione/tenant-kek-wrap/v1") for k in fallback_master_keys
        )
        self._key_store = key_store
        self._cache_seconds = key_cache_seconds
        self._monotonic = monotonic
        self._kek: bytes | None = None
        #: Keys derived from the tenant KEK (by their HKDF info), each beside the KEK it
        #: came from: forgotten with the KEK.
        self._from_kek: dict[str, tuple[bytes, bytes]] = {}
        self._cache: dict[tuple[UUID, RetentionClass], _CachedKey] = {}
        #: Counts the keys dropped: a key read from the store while one was dropped is not
        #: cached, so a lookup that raced an erasure cannot bring the shredded key back.
        self._drops = 0
        self._lock = threading.Lock()
        #: Called with (subject, retention) after `forget_cached_key`: the composition root
        #: announces it to every other process holding this tenant's keys.
        self.key_forgotten: list[Callable[[UUID, RetentionClass], None]] = []

    # -- sealing -------------------------------------------------------------------------

    def seal(
        self, subject: UUID, retention: RetentionClass, value: Mapping[str, Any]
    ) -> SealedValue:
        """Encrypts `value` (a JSON-able mapping) under the subject's key of `retention`."""
        cipher = self._cipher(subject, retention, create=True)
        assert cipher is not None
        nonce = os.urandom(NONCE_BYTES)
        plaintext = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
        ciphertext = cipher.encrypt(nonce, plaintext, self._aad(subject, retention))
        return SealedValue(subject, retention, nonce, ciphertext)

    def unseal(self, sealed: SealedValue) -> dict[str, Any] | Erased:
        """The plaintext mapping, or ERASED when the subject key has been destroyed."""
        cipher = self._cipher(sealed.subject, sealed.retention, create=False)
        if cipher is None:
            return ERASED
        try:
            plaintext = cipher.decrypt(
                sealed.nonce, sealed.ciphertext, self._aad(sealed.subject, sealed.retention)
            )
        except InvalidTag as error:
            raise SealingError(
                f"sealed data of subject {sealed.subject} failed authentication: it was altered"
            ) from error
        opened: dict[str, Any] = _loads(plaintext)
        return opened

    def derived_key(self, subject: UUID, holder: UUID, *, info: str, create: bool) -> bytes | None:
        """A key derived (HKDF-SHA256) from the working-data keys of `subject` and of
        `holder`: shredding either one destroys it. None when either is shredded, or,
        without `create`, does not exist yet."""
        keys = [self._working_key(s, create=create) for s in (subject, holder)]
        if keys[0] is None or keys[1] is None:
            return None
        return HKDF(
            algorithm=hashes.SHA256(), length=KEY_BYTES, salt=keys[1], info=info.encode()
        ).derive(keys[0])

    def _working_key(self, subject: UUID, *, create: bool) -> bytes | None:
        working = RetentionClass.WORKING
        key = self._subject_key(subject, working, create=False)
        if key is not None or not create:
            return key
        store = self._key_store
        if store.subject_key_was_shredded(subject, working) or store.tenant_kek_was_shredded():
            return None
        return self._subject_key(subject, working, create=True)

    def wrap_new_key(self, subject: UUID, retention: RetentionClass) -> bytes:
        """A new subject key, wrapped for the key store (a bulk import stores many at once,
        then hands them back to `remember_keys`)."""
        kek = self._tenant_kek(create=True)
        assert kek is not None
        return _wrap(kek, os.urandom(KEY_BYTES), f"dek:{self.tenant}:{subject}:{retention.value}")

    def remember_keys(self, retention: RetentionClass, wrapped: Mapping[UUID, bytes]) -> None:
        """Unwraps keys read from the key store in bulk and caches them, so that sealing for
        those subjects reads nothing more (for the usual cache time)."""
        kek = self._tenant_kek(create=True)
        assert kek is not None
        now = self._monotonic()
        opened = {
            (subject, retention): _CachedKey(
                now, _unwrap(kek, key, f"dek:{self.tenant}:{subject}:{retention.value}")
            )
            for subject, key in wrapped.items()
        }
        with self._lock:
            self._cache.update(opened)

    def prefetch(self, wanted: Iterable[tuple[UUID, RetentionClass]]) -> None:
        """Reads the keys among `wanted` that are not cached (or whose cache time is up)
        with one query per retention class, so that a read opening many subjects' data
        does not load their keys one by one. Caches exactly what `unseal` would have:
        the key, or None for one erased or never made."""
        if self._cache_seconds <= 0:
            return  # nothing is kept: each unseal reads its key anyway
        now = self._monotonic()
        missing: dict[RetentionClass, list[UUID]] = {}
        with self._lock:
            drops = self._drops
            for subject, retention in set(wanted):
                cached = self._cache.get((subject, retention))
                if cached is None or now - cached.at >= self._cache_seconds:
                    missing.setdefault(retention, []).append(subject)
        if not missing:
            return
        kek = self._tenant_kek(create=False)
        opened: dict[tuple[UUID, RetentionClass], _CachedKey] = {}
        for retention, subjects in missing.items():
            live, _erased = self._key_store.load_subject_keys(subjects, retention)
            for subject in subjects:
                wrapped = live.get(subject)
                aad = f"dek:{self.tenant}:{subject}:{retention.value}"
                key = None if wrapped is None or kek is None else _unwrap(kek, wrapped, aad)
                opened[(subject, retention)] = _CachedKey(now, key)
        with self._lock:
            # A key dropped meanwhile (an erasure) may have been read before it was shredded.
            if self._drops == drops:
                self._cache.update(opened)

    def forget_cached_key(self, subject: UUID, retention: RetentionClass) -> None:
        """Drops a cached key at once (used by erasure in this process) and tells the
        `key_forgotten` listeners, so other processes drop it too."""
        self.drop_cached_key(subject, retention)
        for listener in self.key_forgotten:
            listener(subject, retention)

    def drop_cached_key(self, subject: UUID, retention: RetentionClass) -> None:
        """Drops a cached key at once (another process erased it); announces nothing."""
        with self._lock:
            self._drops += 1
            self._cache.pop((subject, retention), None)

    def replace_master_key(
        self, master_key: bytes, fallback_master_keys: tuple[bytes, ...] = ()
    ) -> None:
        """Unwraps with a new master key from now on (another process rotated it) and
        forgets every cached key, so the next use reads them as they are stored now."""
        if len(master_key) != KEY_BYTES:
            raise ValueError(f"the master key must be {KEY_BYTES} bytes, got {len(master_key)}")
        with self._lock:
            self._master_wrap_key = _derive(master_key, "digione/tenant-kek-wrap/v1")
            self._fallback_wrap_keys = tuple(
                _derive(k, "digione/tenant-kek-wrap/v1") for k in fallback_master_keys
            )
            self._drops += 1
            self._cache.clear()
            self._kek = None
            self._from_kek.clear()

    def forget_all_keys(self) -> None:
        """Drops every cached key and the tenant KEK (used by tenant offboarding)."""
        with self._lock:
            self._drops += 1
            self._cache.clear()
            self._kek = None
            self._from_kek.clear()

    # -- keys ----------------------------------------------------------------------------

    def _aad(self, subject: UUID, retention: RetentionClass) -> bytes:
        # Binding ciphertext to its key reference stops a sealed value being replayed
        # under another subject's identity.
        return _aad(self.tenant, subject, retention)

    def _subject_key(
        self, subject: UUID, retention: RetentionClass, *, create: bool
    ) -> bytes | None:
        return self._cached_key(subject, retention, create=create).key

    def _cipher(self, subject: UUID, retention: RetentionClass, *, create: bool) -> AESGCM | None:
        """The subject key's cipher, made once while the key is cached; None when erased."""
        cached = self._cached_key(subject, retention, create=create)
        if cached.key is None:
            return None
        if cached.cipher is None:
            cached.cipher = AESGCM(cached.key)
        return cached.cipher

    def _cached_key(self, subject: UUID, retention: RetentionClass, *, create: bool) -> _CachedKey:
        now = self._monotonic()
        # No lock to look: a dict read is atomic, and page reads from many threads would
        # queue on it. The drop count is read first, so a key dropped from here on is not
        # cached again below.
        drops = self._drops
        cached = self._cache.get((subject, retention))
        if (
            cached is not None
            and now - cached.at < self._cache_seconds
            and (cached.key is not None or not create)
        ):
            return cached
        aad = f"dek:{self.tenant}:{subject}:{retention.value}"
        # To seal, the key is stored unless one exists, which answers the one stored: one
        # round trip whether the subject is new or not.
        wrapped = None if create else self._key_store.load_subject_key(subject, retention)
        if wrapped is None and create:
            kek = self._tenant_kek(create=True)
            assert kek is not None
            # Refused (None) when the key is on the erasure list: it is never made again.
            wrapped = self._key_store.store_subject_key(
                subject, retention, _wrap(kek, os.urandom(KEY_BYTES), aad)
            )
            if wrapped is None:
                raise SealingError(
                    f"personal data of subject {subject} was erased ({retention.value}); "
                    "new personal data for an erased subject needs a new subject id"
                )
        kek = self._tenant_kek(create=create)
        read = _CachedKey(
            now, None if wrapped is None or kek is None else _unwrap(kek, wrapped, aad)
        )
        with self._lock:
            if self._drops == drops:
                self._cache[(subject, retention)] = read
        return read

    def _tenant_kek(self, *, create: bool) -> bytes | None:
        if self._kek is None:
            if self._key_store.tenant_kek_was_shredded():
                if create:
                    raise SealingError(
                        f"tenant {self.tenant} was offboarded and its key-encryption key "
                        "destroyed; it accepts no new personal data"
                    )
                return None
            aad = f"kek:{self.tenant}"
            wrapped = self._key_store.load_tenant_kek()
            if wrapped is None:
                wrapped = self._key_store.store_tenant_kek(
                    _wrap(self._master_wrap_key, os.urandom(KEY_BYTES), aad)
                )
            self._kek = self._unwrap_kek(wrapped, aad)
        return self._kek

    def _unwrap_kek(self, wrapped: bytes, aad: str) -> bytes:
        *candidates, last = (self._master_wrap_key, *self._fallback_wrap_keys)
        for wrap_key in candidates:
            try:
                return _unwrap(wrap_key, wrapped, aad)
            except SealingError:
                continue
        return _unwrap(last, wrapped, aad)  # its error names the likely cause

    def blind_index_key(self, *, create: bool = False) -> bytes | None:
        """The tenant's key of blind indexes (domain/blind_index.py), derived from its
        key-encryption key; None once the tenant was offboarded (or before it has one)."""
        return self._derived_from_kek("digione/blind-index/v1", create=create)

    def ledger_signing_seed(self, *, create: bool = False) -> bytes | None:
        """The seed of the tenant's ledger signing key (domain/ledger_checkpoints.py),
        derived from its key-encryption key; None once the tenant was offboarded."""
        return self._derived_from_kek("digione/ledger-signing/v1", create=create)

    def _derived_from_kek(self, info: str, *, create: bool) -> bytes | None:
        """The key HKDF derives from the tenant KEK for `info`, derived once per KEK (each
        user's put asks for the blind index key: 10 µs a derivation)."""
        kek = self._tenant_kek(create=create)
        if kek is None:
            return None
        held = self._from_kek.get(info)
        if held is not None and held[0] is kek:
            return held[1]
        key = _derive(kek, info)
        with self._lock:
            # Not kept when the KEK was forgotten meanwhile (an offboarding).
            if self._kek is kek:
                self._from_kek[info] = (kek, key)
        return key

    def rewrap_tenant_kek(self, new_master_key: bytes) -> bytes:
        """The tenant KEK wrapped by a new master key (master-key rotation; events untouched)."""
        kek = self._tenant_kek(create=True)
        assert kek is not None
        return _wrap(
            _derive(new_master_key, "digione/tenant-kek-wrap/v1"), kek, f"kek:{self.tenant}"
        )
