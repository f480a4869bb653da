"""The relay's published position moves only over the unbroken prefix of settled events."""

from __future__ import annotations

import pytest

from streams import published_prefix
from streams.published_prefix import PublishedPrefix


def sent(after: int, *positions: int) -> tuple[PublishedPrefix, dict[int, int]]:
    """A prefix after `after` with `positions` sent; their tokens by position."""
    prefix = PublishedPrefix(after)
    return prefix, {position: prefix.sent(position) for position in positions}


def test_acknowledgements_out_of_order_move_the_position_only_over_the_unbroken_prefix() -> None:
    prefix, token = sent(10, 11, 12, 13, 14)
    prefix.acknowledged(token[12], "t", 0)
    prefix.acknowledged(token[14], "t", 1)

    assert not prefix.advance().moved
    assert prefix.position == 10

    prefix.acknowledged(token[11], "t", 2)
    advance = prefix.advance()

    assert (advance.first, advance.last, prefix.position) == (11, 12, 12)
    assert advance.partitions == {("t", 2): 11, ("t", 0): 12}
    prefix.acknowledged(token[13], "t", 0)
    assert prefix.advance().partitions == {("t", 0): 13, ("t", 1): 14}
    assert (prefix.position, prefix.in_flight) == (14, 0)


def test_a_failed_delivery_holds_the_position_back_and_later_acknowledgements_do_not_skip_it() -> (
    None
):
    prefix, token = sent(0, 1, 2, 3, 4)
    prefix.acknowledged(token[1], "t", 0)
    prefix.failed(token[2], "timed out")
    prefix.acknowledged(token[3], "t", 0)
    prefix.acknowledged(token[4], "t", 1)

    advance = prefix.advance()

    assert (advance.last, prefix.position) == (1, 1)
    assert prefix.failure == (2, "timed out")
    # Nothing settles the failed event afterwards: it is published again from there.
    prefix.acknowledged(token[2], "t", 0)
    assert not prefix.advance().moved
    assert prefix.position == 1


def test_an_event_refused_for_what_it_is_is_passed_and_handed_over_to_be_parked() -> None:
    prefix, token = sent(5, 6, 8, 9)  # positions need not be consecutive
    prefix.refused(token[8], "too large")
    prefix.acknowledged(token[9], "t", 0)
    assert not prefix.advance().moved

    prefix.acknowledged(token[6], "t", 1)
    advance = prefix.advance()

    assert (advance.first, advance.last) == (6, 9)
    assert advance.refused == {8: "too large"}
    assert advance.partitions == {("t", 1): 6, ("t", 0): 9}


def test_the_first_report_of_an_event_is_the_one_that_counts() -> None:
    prefix, token = sent(0, 1)
    prefix.failed(token[1], "broker gone")
    prefix.acknowledged(token[1], "t", 0)

    assert not prefix.advance().moved
    assert prefix.failure == (1, "broker gone")


def test_a_long_stream_keeps_its_tokens_valid_across_compaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(published_prefix, "_COMPACT_AFTER", 4)
    prefix = PublishedPrefix(0)
    tokens = [prefix.sent(position) for position in range(1, 21)]
    for round_start in range(0, 20, 5):
        for token in reversed(tokens[round_start : round_start + 5]):
            prefix.acknowledged(token, "t", token % 3)
        assert prefix.advance().last == round_start + 5
    assert (prefix.position, prefix.in_flight) == (20, 0)
    late = prefix.sent(21)
    prefix.failed(late, "gone")
    assert prefix.failure == (21, "gone")


def test_events_must_be_sent_in_store_order() -> None:
    prefix, _ = sent(3, 4)

    with pytest.raises(ValueError, match="store order"):
        prefix.sent(4)
    with pytest.raises(ValueError, match="store order"):
        PublishedPrefix(7).sent(7)
