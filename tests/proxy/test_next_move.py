"""The fallback rule as a decision table: one attempt's result and the rest of the chain in,
the next move out."""

from __future__ import annotations

import pytest

from agentwrap.proxy.fallback import (
    RETRYABLE_STATUS,
    AttemptResult,
    Move,
    Next,
    next_move,
    retry_after,
)

MAX_RETRY_AFTER = 5.0

# (status, retry-after, targets left after this one, already retried) → next move
TABLE = [
    # No answer at all (refused by translation, timeout, unreachable): on to the next target.
    (None, None, 1, False, Next(Move.NEXT)),
    (None, None, 0, False, Next(Move.GIVE_UP)),
    (None, 1.0, 0, False, Next(Move.GIVE_UP)),
    # An answer the agent should see as it is: success, and errors a retry would not fix.
    (200, None, 1, False, Next(Move.RELAY)),
    (200, None, 0, False, Next(Move.RELAY)),
    (400, None, 2, False, Next(Move.RELAY)),
    (401, None, 1, False, Next(Move.RELAY)),
    (404, 1.0, 1, False, Next(Move.RELAY)),
    (501, None, 1, False, Next(Move.RELAY)),
    # Retryable, with targets left: the next one, whatever retry-after says.
    (429, None, 1, False, Next(Move.NEXT)),
    (529, 1.0, 1, False, Next(Move.NEXT)),
    (500, 0.0, 3, True, Next(Move.NEXT)),
    # Retryable on the last target: once more if the provider says soon, else its error.
    (429, 2.0, 0, False, Next(Move.RETRY, 2.0)),
    (503, 0.0, 0, False, Next(Move.RETRY, 0.0)),
    (529, MAX_RETRY_AFTER, 0, False, Next(Move.RETRY, MAX_RETRY_AFTER)),
    (429, MAX_RETRY_AFTER + 0.1, 0, False, Next(Move.RELAY)),
    (429, None, 0, False, Next(Move.RELAY)),
    (429, 1.0, 0, True, Next(Move.RELAY)),
]


@pytest.mark.parametrize(("status", "after", "remaining", "retried", "expected"), TABLE)
def test_next_move(status, after, remaining, retried, expected):
    result = AttemptResult(status, after)
    assert next_move(result, remaining, retried, MAX_RETRY_AFTER) == expected


@pytest.mark.parametrize("status", sorted(RETRYABLE_STATUS))
def test_every_retryable_status_moves_on_while_targets_remain(status):
    assert next_move(AttemptResult(status), 1, False, MAX_RETRY_AFTER).move is Move.NEXT
    assert next_move(AttemptResult(status), 0, False, MAX_RETRY_AFTER).move is Move.RELAY


NOW = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("", None),
        (None, None),
        # An HTTP date counts from now; one in the past means now.
        ("Wed, 21 Oct 2015 07:28:03 GMT", 3.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Tue, 20 Oct 2015 07:28:00 GMT", 0.0),
        ("Wed, 21 Oct 2015 07:28:03", None),  # no zone: not an HTTP date
        ("soon", None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(header, seconds):
    assert retry_after(header, now=NOW) == seconds


def test_an_http_date_retry_after_within_patience_retries_the_last_target():
    after = retry_after("Wed, 21 Oct 2015 07:28:02 GMT", now=NOW)
    assert next_move(AttemptResult(503, after), 0, False, MAX_RETRY_AFTER) == Next(Move.RETRY, 2.0)
