"""Sealing personal data: one key per subject and retention class, wrapped by the tenant KEK."""

from __future__ import annotations

import os
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain import sealing
from domain.sealing import ERASED, RetentionClass, SealedValue, Sealer, SealingError


class InMemoryKeyStore:
    """A fake KeyStore with the contract of domain.tenant_tables.TenantTables."""

    def __init__(self) -> None:
        self.kek: bytes | None = None
        self.keys: dict[tuple[UUID, RetentionClass], bytes] = {}
        self.shredded: set[tuple[UUID, RetentionClass]] = set()
        self.keys_read_one_by_one = 0

    def load_tenant_kek(self) -> bytes | None:
        return self.kek

    def store_tenant_kek(self, wrapped: bytes) -> bytes:
        self.kek = self.kek or wrapped
        return self.kek

    def load_subject_key(self, subject: UUID, retention: RetentionClass) -> bytes | None:
        self.keys_read_one_by_one += 1
        return self.keys.get((subject, retention))

    def store_subject_key(
        self, subject: UUID, retention: RetentionClass, wrapped: bytes
    ) -> bytes | None:
        if (subject, retention) in self.shredded:
            return None
        return self.keys.setdefault((subject, retention), wrapped)

    def load_subject_keys(
        self, subjects: list[UUID], retention: RetentionClass
    ) -> tuple[dict[UUID, bytes], set[UUID]]:
        live = {s: self.keys[(s, retention)] for s in subjects if (s, retention) in self.keys}
        return live, {s for s in subjects if (s, retention) in self.shredded}

    def subject_key_was_shredded(self, subject: UUID, retention: RetentionClass) -> bool:
        return (subject, retention) in self.shredded

    def tenant_kek_was_shredded(self) -> bool:
        return ("*", "*") in self.shredded  # type: ignore[comparison-overlap]

    def shred(self, subject: UUID, retention: RetentionClass) -> None:
        self.keys.pop((subject, retention), None)
        self.shredded.add((subject, retention))


MASTER = os.urandom(32)


def a_sealer(
    store: InMemoryKeyStore, *, tenant: str = "vantaa", cache_seconds: float = 0.0
) -> Sealer:
    return Sealer(
        tenant=tenant, master_key=MASTER, key_store=store, key_cache_seconds=cache_seconds
    )


def test_sealed_personal_data_opens_to_the_same_fields() -> None:
    sealer, subject = a_sealer(InMemoryKeyStore()), uuid4()

    sealed = sealer.seal(
        subject, RetentionClass.WORKING, {"givenName": "Aino", "familyName": "Virtanen"}
    )

    assert b"Aino" not in sealed.ciphertext
    assert sealer.unseal(sealed) == {"givenName": "Aino", "familyName": "Virtanen"}


def test_each_subject_and_retention_class_has_its_own_key() -> None:
    store, subject = InMemoryKeyStore(), uuid4()
    sealer = a_sealer(store)

    sealer.seal(subject, RetentionClass.WORKING, {"a": 1})
    sealer.seal(subject, RetentionClass.PERMANENT_RECORD, {"a": 1})
    sealer.seal(uuid4(), RetentionClass.WORKING, {"a": 1})

    assert len(store.keys) == 3
    assert len(set(store.keys.values())) == 3


def test_a_shredded_key_reads_as_erased_not_as_an_error() -> None:
    store, subject = InMemoryKeyStore(), uuid4()
    sealer = a_sealer(store)
    working = sealer.seal(subject, RetentionClass.WORKING, {"comment": "hyvä"})
    kept = sealer.seal(subject, RetentionClass.PERMANENT_RECORD, {"grade": "9"})

    store.shred(subject, RetentionClass.WORKING)

    assert sealer.unseal(working) is ERASED
    assert sealer.unseal(kept) == {"grade": "9"}


def test_a_cached_key_stops_working_once_the_cache_bound_has_passed() -> None:
    store, subject, now = InMemoryKeyStore(), uuid4(), [0.0]
    sealer = Sealer(
        tenant="t",
        master_key=MASTER,
        key_store=store,
        key_cache_seconds=30.0,
        monotonic=lambda: now[0],
    )
    sealed = sealer.seal(subject, RetentionClass.WORKING, {"x": 1})
    store.shred(subject, RetentionClass.WORKING)

    within = sealer.unseal(sealed)
    now[0] = 30.0
    after = sealer.unseal(sealed)

    assert within == {"x": 1} and after is ERASED


def test_a_read_of_many_subjects_loads_their_keys_together_and_still_sees_erasures() -> None:
    store, now = InMemoryKeyStore(), [0.0]
    sealer = Sealer(
        tenant="t", master_key=MASTER, key_store=store, key_cache_seconds=30.0,
        monotonic=lambda: now[0],
    )  # fmt: skip
    subjects = [uuid4() for _ in range(5)]
    sealed = [sealer.seal(s, RetentionClass.WORKING, {"n": n}) for n, s in enumerate(subjects)]
    store.shred(subjects[0], RetentionClass.WORKING)
    now[0] = 30.0  # every cached key is due to be read again
    store.keys_read_one_by_one = 0

    sealer.prefetch((v.subject, v.retention) for v in sealed)
    opened = [sealer.unseal(v) for v in sealed]

    assert store.keys_read_one_by_one == 0
    assert opened == [ERASED, {"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]


def test_new_personal_data_cannot_be_sealed_for_an_erased_subject() -> None:
    store, subject = InMemoryKeyStore(), uuid4()
    sealer = a_sealer(store)
    sealer.seal(subject, RetentionClass.WORKING, {"x": 1})
    store.shred(subject, RetentionClass.WORKING)

    with pytest.raises(SealingError, match="erased"):
        sealer.seal(subject, RetentionClass.WORKING, {"x": 2})


def test_sealed_data_moved_to_another_subject_fails_authentication() -> None:
    sealer = a_sealer(InMemoryKeyStore())
    sealed = sealer.seal(uuid4(), RetentionClass.WORKING, {"x": 1})
    sealer.seal(other := uuid4(), RetentionClass.WORKING, {"y": 1})

    with pytest.raises(SealingError):
        sealer.unseal(SealedValue(other, sealed.retention, sealed.nonce, sealed.ciphertext))


def test_another_tenants_master_key_cannot_unwrap_the_keys() -> None:
    store = InMemoryKeyStore()
    sealed = a_sealer(store).seal(uuid4(), RetentionClass.WORKING, {"x": 1})
    intruder = Sealer(tenant="vantaa", master_key=os.urandom(32), key_store=store)

    with pytest.raises(SealingError, match="master key"):
        intruder.unseal(sealed)


def test_a_sealed_value_never_prints_its_ciphertext() -> None:
    sealed = a_sealer(InMemoryKeyStore()).seal(uuid4(), RetentionClass.WORKING, {"x": 1})

    assert "ciphertext=" not in repr(sealed) and sealed.ciphertext.hex() not in repr(sealed)


class _ShreddingWhileRead(InMemoryKeyStore):
    """A store whose key is shredded (and the key dropped, as erasure elsewhere announces)
    right after a lookup has read it: the lookup races the erasure."""

    sealer: Sealer

    def load_subject_key(self, subject: UUID, retention: RetentionClass) -> bytes | None:
        wrapped = super().load_subject_key(subject, retention)
        if wrapped is not None and self.armed:
            self.armed = False
            self.shred(subject, retention)
            self.sealer.drop_cached_key(subject, retention)
        return wrapped

    armed = False


def test_a_key_read_while_an_erasure_dropped_it_is_not_cached() -> None:
    store, subject = _ShreddingWhileRead(), uuid4()
    sealer = store.sealer = a_sealer(store, cache_seconds=3600.0)
    sealed = sealer.seal(subject, RetentionClass.WORKING, {"a": 1})
    sealer.drop_cached_key(subject, RetentionClass.WORKING)
    store.armed = True

    assert sealer.unseal(sealed) == {"a": 1}  # read before the erasure took effect
    assert sealer.unseal(sealed) is ERASED


def test_forgetting_a_key_tells_the_listeners_and_dropping_one_does_not() -> None:
    sealer, subject = a_sealer(InMemoryKeyStore()), uuid4()
    told: list[tuple[UUID, RetentionClass]] = []
    sealer.key_forgotten.append(lambda s, r: told.append((s, r)))

    sealer.forget_cached_key(subject, RetentionClass.WORKING)
    sealer.drop_cached_key(subject, RetentionClass.COMPULSORY_SCHOOLING)

    assert told == [(subject, RetentionClass.WORKING)]


def test_every_sealed_value_opens_as_it_was_sealed_even_beyond_what_fast_json_reads() -> None:
    sealer = a_sealer(InMemoryKeyStore())
    subject = uuid4()
    values = {"givenName": "Äinö 🦉", "studentNumber": 2**70, "weight": float("nan"), "none": None}

    opened = sealer.unseal(sealer.seal(subject, RetentionClass.WORKING, values))

    assert isinstance(opened, dict)
    assert opened["studentNumber"] == 2**70
    assert opened["weight"] != opened["weight"]  # NaN
    assert {k: opened[k] for k in ("givenName", "none")} == {"givenName": "Äinö 🦉", "none": None}


def _holds(value: object, secret: bytes) -> bool:
    """Whether `value` (an attribute, a container of them) holds the bytes `secret`."""
    if isinstance(value, bytes):
        return value == secret
    if isinstance(value, dict):
        return any(_holds(k, secret) or _holds(v, secret) for k, v in value.items())
    if isinstance(value, (tuple, list, set, frozenset)):
        return any(_holds(v, secret) for v in value)
    return False


def test_the_blind_index_key_stays_the_same_and_is_forgotten_with_the_tenant_kek() -> None:
    store = InMemoryKeyStore()
    sealer = a_sealer(store)
    key = sealer.blind_index_key(create=True)
    assert key is not None and sealer.blind_index_key() == key
    assert a_sealer(store).blind_index_key() == key  # derived, not stored: any process
    assert a_sealer(InMemoryKeyStore()).blind_index_key(create=True) != key
    assert sealer.ledger_signing_seed() not in (None, key)

    # Offboarding: the tenant KEK is destroyed and every process forgets its keys.
    store.kek = None
    store.shredded.add(("*", "*"))  # type: ignore[arg-type]
    sealer.forget_all_keys()

    assert sealer.blind_index_key() is None
    assert not any(_holds(value, key) for value in vars(sealer).values())


def test_a_cached_key_makes_its_cipher_once_and_a_dropped_key_is_read_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[bytes] = []

    def counted(key: bytes) -> AESGCM:
        made.append(key)
        return AESGCM(key)

    monkeypatch.setattr(sealing, "AESGCM", counted)
    store, subject = InMemoryKeyStore(), uuid4()
    sealer = a_sealer(store, cache_seconds=3600.0)
    first = sealer.seal(subject, RetentionClass.WORKING, {"givenName": "Aino"})
    made.clear()

    for _ in range(10):
        assert sealer.unseal(first) == {"givenName": "Aino"}
    again = sealer.seal(subject, RetentionClass.WORKING, {"givenName": "Aino"})
    cached = len(made)
    store.shred(subject, RetentionClass.WORKING)
    sealer.drop_cached_key(subject, RetentionClass.WORKING)

    assert cached == 0
    assert sealer.unseal(again) is ERASED
    assert sealer.unseal(first) is ERASED
