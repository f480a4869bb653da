"""The key store table beside the events keeps the contract of the in-memory fake."""

from __future__ import annotations

from uuid import uuid4

from domain.application import TenantApplication
from domain.sealing import RetentionClass
from tests.unit.test_sealing import InMemoryKeyStore


def test_the_first_stored_key_wins_and_later_ones_are_ignored(app: TenantApplication) -> None:
    for store in (app.tables, InMemoryKeyStore()):
        subject = uuid4()

        kept = store.store_subject_key(subject, RetentionClass.WORKING, b"first")
        again = store.store_subject_key(subject, RetentionClass.WORKING, b"second")

        assert kept == again == b"first"
        assert store.load_subject_key(subject, RetentionClass.WORKING) == b"first"
        assert store.load_subject_key(subject, RetentionClass.PERMANENT_RECORD) is None
        assert store.subject_key_was_shredded(subject, RetentionClass.WORKING) is False


def test_a_key_on_the_erasure_list_is_never_stored_again(app: TenantApplication) -> None:
    memory = InMemoryKeyStore()
    for store, shred, count in (
        (app.tables, app.tables.shred_subject_key, app.tables.count_subject_keys),
        (memory, memory.shred, lambda: len(memory.keys)),
    ):
        subject = uuid4()
        store.store_subject_key(subject, RetentionClass.WORKING, b"first")
        shred(subject, RetentionClass.WORKING)
        keys = count()

        again = store.store_subject_key(subject, RetentionClass.WORKING, b"second")

        assert again is None
        assert count() == keys
        assert store.load_subject_key(subject, RetentionClass.WORKING) is None
        assert store.subject_key_was_shredded(subject, RetentionClass.WORKING) is True


def test_the_tenant_kek_is_written_once(app: TenantApplication) -> None:
    app.sealer.seal(uuid4(), RetentionClass.WORKING, {"x": 1})
    stored = app.tables.load_tenant_kek()

    again = app.tables.store_tenant_kek(b"another")

    assert stored is not None and again == stored
