"""The table of sums: finished calls added up per quarter hour, session, model and step.

A report over a million calls reads these sums instead of the calls. `call_sums` holds, for
each 15-minute UTC bucket × session × model key × step key, the `Tally` of the calls there in
a final state (any status but `streaming`): its additive fields as plain sums, and the bounds
`first_started` (MIN) and `last_finished` (MAX). Every UTC offset in use is a whole number of
quarter hours, so a local day, week or month is a whole number of buckets in any timezone.

SQLite keeps the table with triggers on `calls`, so every writer (the recorder, the bulk
history writer, a deletion) keeps it true:

- a call is added when its row is written in a final state, or updated into one (the proxy's
  writes while the call is in flight change nothing here: one addition per call);
- a later change to a column the sums read (a status, a model) takes the call's old
  contribution out and puts the new one in; a new outcome label alone moves only the call's
  step counters (`relabel_schema`); a deleted call is taken out;
- a call leaving a row whose bounds it set has the row's bounds found again from its calls,
  so MIN and MAX never keep a call that is gone; a row left with no calls is deleted;
- each row keeps its session's agent, demo flag, cwd and repository root (what the report's
  filters read) beside the session id, copied again by triggers on `sessions` when a session
  is written after its calls, changed or deleted (`session_schema`).

Each migration's statements come from here: a later change to the table or its triggers is a
new function for a new migration, leaving the ones before it as they were.

Calls still in flight are not in the table: readers add them from `calls` (the partial index
`calls_in_flight` finds them). The values here are `Tally.of_call` written in SQL, one call at
a time; tests/trace/test_call_sums.py holds the table to the calls summed afresh by the per-row
SQL (`queries.TALLY_SELECT`, itself held to `Tally.of_call`). Pure SQL text, no I/O:
`trace.store` creates the table in its migrations; `trace.report` and `trace.queries` read it.
"""

from __future__ import annotations

from agentwrap.fmt import UNKNOWN_MODEL
from agentwrap.trace.tally import UNKNOWN_STEP

BUCKET_S = 900  # a quarter hour: every UTC offset in use is a multiple of it

# How a call is grouped by model and by step kind, as tally.model_key and step_key say.
_MODEL_KEY = (
    f"COALESCE(NULLIF({{r}}.model, ''), NULLIF({{r}}.requested_model, ''), '{UNKNOWN_MODEL}')"
)
_STEP_KEY = f"COALESCE(NULLIF({{r}}.step, ''), '{UNKNOWN_STEP}')"
# The bucket a call starts in: floor(started_at / 900), exactly (the division may round up).
_BUCKET = (
    f"(CAST({{r}}.started_at / {BUCKET_S} AS INTEGER) "
    f"- (CAST({{r}}.started_at / {BUCKET_S} AS INTEGER) * {BUCKET_S} > {{r}}.started_at))"
)
_BASELINE = """(CASE
    WHEN {r}.baseline_cost_usd IS NOT NULL THEN {r}.baseline_cost_usd
    WHEN {r}.cost_usd IS NOT NULL AND COALESCE({r}.model, '') != ''
        AND {r}.model = COALESCE(NULLIF({r}.baseline_model, ''), {r}.requested_model)
        THEN {r}.cost_usd
    END)"""
# One call's contribution to each additive Tally field (never NULL), over a row named {r}.
_VALUES = {
    "calls": "1",
    "ok": "{r}.status = 'ok'",
    "streaming": "{r}.status = 'streaming'",
    "failed": "{r}.status IN ('error', 'proxy_error')",
    "aborted": "{r}.status = 'aborted'",
    "refused": "{r}.status = 'refused'",
    # json_array_length is 0 for valid JSON that is not an array.
    "fallbacks": (
        "COALESCE(CASE WHEN json_valid({r}.attempts) "
        "THEN json_array_length({r}.attempts) > 1 END, 0)"
    ),
    "steps_succeeded": "{r}.outcome IS 'succeeded'",
    "steps_failed": "{r}.outcome IS 'failed'",
    "steps_interrupted": "{r}.outcome IS 'interrupted'",
    "input_tokens": "COALESCE({r}.input_tokens, 0)",
    "output_tokens": "COALESCE({r}.output_tokens, 0)",
    "cache_write_tokens": "COALESCE({r}.cache_creation_tokens, 0)",
    "cache_read_tokens": "COALESCE({r}.cache_read_tokens, 0)",
    "cost_usd": "COALESCE({r}.cost_usd, 0.0)",
    "priced_calls": "{r}.cost_usd IS NOT NULL",
    "unpriced_calls": (
        "{r}.cost_usd IS NULL AND (COALESCE({r}.unpriced_reason, '') != '' OR {r}.status = 'ok')"
    ),
    "baseline_usd": f"COALESCE({_BASELINE}, 0.0)",
    "baseline_calls": f"{_BASELINE} IS NOT NULL",
    "compared_calls": f"{{r}}.cost_usd IS NOT NULL AND {_BASELINE} IS NOT NULL",
    "compared_cost_usd": f"IIF({_BASELINE} IS NOT NULL, COALESCE({{r}}.cost_usd, 0.0), 0.0)",
    "compared_baseline_usd": f"IIF({{r}}.cost_usd IS NOT NULL, COALESCE({_BASELINE}, 0.0), 0.0)",
    "would_calls": "{r}.cost_usd IS NOT NULL AND {r}.would_cost_usd IS NOT NULL",
    "would_cost_usd": "IIF({r}.cost_usd IS NOT NULL, COALESCE({r}.would_cost_usd, 0.0), 0.0)",
    "would_actual_usd": "IIF({r}.would_cost_usd IS NOT NULL, COALESCE({r}.cost_usd, 0.0), 0.0)",
}
SUMMED = tuple(_VALUES)
_KEYS = ("bucket", "session_id", "model_key", "step_key")
_BOUNDS = ("first_started", "last_finished")
# The calls columns the sums read: an update that sets none of them leaves the sums as they are.
READ_COLUMNS = (
    "session_id",
    "started_at",
    "status",
    "attempts",
    "outcome",
    "input_tokens",
    "output_tokens",
    "cache_creation_tokens",
    "cache_read_tokens",
    "cost_usd",
    "unpriced_reason",
    "baseline_model",
    "baseline_cost_usd",
    "requested_model",
    "model",
    "would_cost_usd",
    "step",
    "total_ms",
)
_FINAL = "{r}.status != 'streaming'"


def _of(row: str) -> dict[str, str]:
    """Each column of a call_sums row as SQL over one call row named `row`."""
    parts = {
        "bucket": _BUCKET,
        "session_id": "{r}.session_id",
        "model_key": _MODEL_KEY,
        "step_key": _STEP_KEY,
        **_VALUES,
        "first_started": "{r}.started_at",
        "last_finished": "{r}.started_at + {r}.total_ms / 1000.0",
    }
    return {name: sql.format(r=row) for name, sql in parts.items()}


def _same_key(row: str) -> str:
    of = _of(row)
    return " AND ".join(f"{key} = {of[key]}" for key in _KEYS)


def _add(row: str, with_session: bool = False) -> str:
    of = _of(row)
    sums = ", ".join(f"{name} = {name} + excluded.{name}" for name in SUMMED)
    if with_session:
        # A new row takes its session's attributes (none, and no demo, when it is missing).
        columns = ", ".join([*of, *_SESSION_COLUMNS])
        values = ", ".join([*of.values(), *_SESSION_VALUES.values()])
        into = (
            f"INSERT INTO call_sums({columns}) SELECT {values} FROM (SELECT 1) "
            f"LEFT JOIN sessions ON sessions.id = {row}.session_id WHERE true "
        )
    else:
        into = f"INSERT INTO call_sums({', '.join(of)}) VALUES ({', '.join(of.values())}) "
    return (
        f"{into}"
        f"ON CONFLICT({', '.join(_KEYS)}) DO UPDATE SET {sums}, "
        "first_started = MIN(COALESCE(first_started, excluded.first_started), "
        "excluded.first_started), "
        "last_finished = COALESCE(MAX(last_finished, excluded.last_finished), last_finished, "
        "excluded.last_finished)"
    )


def _take_out(row: str) -> list[str]:
    of = _of(row)
    sums = ", ".join(f"{name} = {name} - ({of[name]})" for name in SUMMED)
    key = _same_key(row)
    # The row's bounds again from its calls, when the call that left may have set them.
    calls = _of("calls")
    again = (
        f"SELECT MIN({calls['first_started']}), MAX({calls['last_finished']}) FROM calls "
        f"WHERE calls.session_id = call_sums.session_id "
        f"AND calls.started_at >= call_sums.bucket * {BUCKET_S} "
        f"AND calls.started_at < (call_sums.bucket + 1) * {BUCKET_S} "
        f"AND {_FINAL.format(r='calls')} AND {calls['bucket']} = call_sums.bucket "
        f"AND {calls['model_key']} = call_sums.model_key "
        f"AND {calls['step_key']} = call_sums.step_key"
    )
    return [
        f"UPDATE call_sums SET {sums} WHERE {key}",
        f"DELETE FROM call_sums WHERE {key} AND calls <= 0",
        f"UPDATE call_sums SET (first_started, last_finished) = ({again}) WHERE {key} "
        f"AND (first_started >= {of['first_started']} OR last_finished <= {of['last_finished']})",
    ]


def _trigger(name: str, event: str, when: str, statements: list[str]) -> str:
    body = "".join(f"    {s};\n" for s in statements)
    return f"CREATE TRIGGER {name} AFTER {event} ON calls WHEN {when}\nBEGIN\n{body}END"


def schema() -> list[str]:
    """The statements that create call_sums, its triggers and the index of calls in flight,
    and sum the calls already stored (a store written before the table existed)."""
    columns = [
        "bucket INTEGER NOT NULL",
        "session_id TEXT NOT NULL",
        "model_key TEXT NOT NULL",
        "step_key TEXT NOT NULL",
        *(f"{name} {'REAL' if name.endswith('_usd') else 'INTEGER'} NOT NULL" for name in SUMMED),
        "first_started REAL",
        "last_finished REAL",
        f"PRIMARY KEY ({', '.join(_KEYS)})",
    ]
    calls = _of("calls")
    sums = [
        *(calls[key] for key in _KEYS),
        *(f"{'TOTAL' if name.endswith('_usd') else 'SUM'}({calls[name]})" for name in SUMMED),
        f"MIN({calls['first_started']})",
        f"MAX({calls['last_finished']})",
    ]
    updated = f"UPDATE OF {', '.join(READ_COLUMNS)}"
    return [
        f"CREATE TABLE call_sums ({', '.join(columns)}) WITHOUT ROWID",
        "CREATE INDEX IF NOT EXISTS calls_in_flight ON calls(started_at) "
        "WHERE status = 'streaming'",
        f"INSERT INTO call_sums({', '.join((*_KEYS, *SUMMED, *_BOUNDS))}) "
        f"SELECT {', '.join(sums)} FROM calls WHERE {_FINAL.format(r='calls')} "
        "GROUP BY 1, 2, 3, 4",
        _trigger("call_sums_insert", "INSERT", _FINAL.format(r="NEW"), [_add("NEW")]),
        # A changed call: its old contribution out, its new one in (in either order).
        _trigger("call_sums_update_in", updated, _FINAL.format(r="NEW"), [_add("NEW")]),
        _trigger("call_sums_update_out", updated, _FINAL.format(r="OLD"), _take_out("OLD")),
        _trigger("call_sums_delete", "DELETE", _FINAL.format(r="OLD"), _take_out("OLD")),
    ]


_STEP_COUNTERS = ("steps_succeeded", "steps_failed", "steps_interrupted")
# A finished call's outcome label changed and nothing else the sums read: only its step
# counters move (NULL-safe comparisons: a value written again is no change).
_RELABELLED = " AND ".join(
    [
        _FINAL.format(r="OLD"),
        _FINAL.format(r="NEW"),
        *(f"OLD.{column} IS NEW.{column}" for column in READ_COLUMNS if column != "outcome"),
    ]
)


def relabel_schema() -> list[str]:
    """The statements that make a finished call's new outcome label move only its step
    counters: a small trigger for a change of the label alone, and the triggers that take a
    call out and put it back in left to every other change (never both for one write)."""
    before, after = _of("OLD"), _of("NEW")
    steps = ", ".join(
        f"{name} = {name} - ({before[name]}) + ({after[name]})" for name in _STEP_COUNTERS
    )
    # A write that sets the label and nothing else the sums read wakes only the small trigger.
    updated = f"UPDATE OF {', '.join(c for c in READ_COLUMNS if c != 'outcome')}"
    not_relabelled = f"NOT ({_RELABELLED})"
    return [
        "DROP TRIGGER call_sums_update_in",
        "DROP TRIGGER call_sums_update_out",
        _trigger(
            "call_sums_update_in",
            updated,
            f"{_FINAL.format(r='NEW')} AND {not_relabelled}",
            [_add("NEW")],
        ),
        _trigger(
            "call_sums_update_out",
            updated,
            f"{_FINAL.format(r='OLD')} AND {not_relabelled}",
            _take_out("OLD"),
        ),
        _trigger(
            "call_sums_relabel",
            "UPDATE OF outcome",
            _RELABELLED,
            [f"UPDATE call_sums SET {steps} WHERE {_same_key('NEW')}"],
        ),
    ]


# The session's attributes the report's filters read, kept beside the session in each row.
_SESSION_COLUMNS = ("agent", "is_demo", "cwd", "repo_root")
_SESSION_VALUES = {
    "agent": "sessions.agent",
    "is_demo": "COALESCE(sessions.is_demo != 0, 0)",
    "cwd": "sessions.cwd",
    "repo_root": "sessions.repo_root",
}


def _set_session(row: str) -> str:
    """SET the attributes of a session row named `row` (sessions.x written as row.x)."""
    return ", ".join(
        f"{name} = {value.replace('sessions.', f'{row}.')}"
        for name, value in _SESSION_VALUES.items()
    )


def session_schema() -> list[str]:
    """The statements that keep each row's session attributes (agent, demo, cwd, repository
    root: what the report's filters read) beside its session id, so that a filter is a
    condition on the row, not a look-up of its session: copied when a row is made, and again
    when a session is written, changed or deleted."""
    missing = "agent = NULL, is_demo = 0, cwd = NULL, repo_root = NULL"
    lookup = {
        name: f"(SELECT {value} FROM sessions WHERE sessions.id = call_sums.session_id)"
        for name, value in _SESSION_VALUES.items()
    }
    lookup["is_demo"] = f"COALESCE({lookup['is_demo']}, 0)"
    updated = "UPDATE OF id, agent, is_demo, cwd, repo_root"

    def on_sessions(name: str, event: str, statements: list[str]) -> str:
        body = "".join(f"    {s};\n" for s in statements)
        return f"CREATE TRIGGER {name} AFTER {event} ON sessions\nBEGIN\n{body}END"

    return [
        "ALTER TABLE call_sums ADD COLUMN agent TEXT",
        "ALTER TABLE call_sums ADD COLUMN is_demo INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE call_sums ADD COLUMN cwd TEXT",
        "ALTER TABLE call_sums ADD COLUMN repo_root TEXT",
        "CREATE INDEX call_sums_session ON call_sums(session_id)",
        f"UPDATE call_sums SET {', '.join(f'{k} = {v}' for k, v in lookup.items())}",
        "DROP TRIGGER call_sums_insert",
        "DROP TRIGGER call_sums_update_in",
        _trigger(
            "call_sums_insert", "INSERT", _FINAL.format(r="NEW"), [_add("NEW", with_session=True)]
        ),
        _trigger(
            "call_sums_update_in",
            f"UPDATE OF {', '.join(c for c in READ_COLUMNS if c != 'outcome')}",
            f"{_FINAL.format(r='NEW')} AND NOT ({_RELABELLED})",
            [_add("NEW", with_session=True)],
        ),
        on_sessions(
            "call_sums_session_in",
            "INSERT",
            [f"UPDATE call_sums SET {_set_session('NEW')} WHERE session_id = NEW.id"],
        ),
        on_sessions(
            "call_sums_session_changed",
            updated,
            [
                f"UPDATE call_sums SET {missing} WHERE session_id = OLD.id",
                f"UPDATE call_sums SET {_set_session('NEW')} WHERE session_id = NEW.id",
            ],
        ),
        on_sessions(
            "call_sums_session_out",
            "DELETE",
            [f"UPDATE call_sums SET {missing} WHERE session_id = OLD.id"],
        ),
    ]


# Each Tally field summed over call_sums rows, named as the field (queries.tally_of_row reads it).
SUMS_SELECT = ", ".join(
    [
        *(f"{'TOTAL' if name.endswith('_usd') else 'SUM'}({name}) AS {name}" for name in SUMMED),
        "MIN(first_started) AS first_started",
        "MAX(last_finished) AS last_finished",
    ]
)
