"""The partition of a key: Kafka's default partitioner, as every client computes it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from streams.codec import murmur2, partition_for


@given(st.binary(max_size=200))
def test_murmur2_gives_kafka_pythons_numbers_for_any_key(key: bytes) -> None:
    assert murmur2(key) == kafka_python_murmur2(key)


def test_an_aggregate_id_lands_on_the_partition_the_java_client_gives() -> None:
    # Kafka's Java client: Utils.toPositive(Utils.murmur2(key)) % partitions. The numbers
    # of these keys are the Java client's (its murmur2 test vectors, as signed ints).
    java = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    for key, signed in java.items():
        assert murmur2(key) == signed & 0xFFFFFFFF
        assert partition_for(key, 3) == (signed & 0x7FFFFFFF) % 3
