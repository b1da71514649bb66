"""LineIndex finds the line of any key in hand-written TOML (the line errors point to)."""

from __future__ import annotations

import tomllib

from hypothesis import given, settings
from hypothesis import strategies as st

from agentwrap.route.tomlpos import LineIndex

TEXT = """\
extends = "balanced"   # a comment with = and [brackets]

[providers.fast]
api = "anthropic"
"base_url" = "http://127.0.0.1:9/x"
headers = { "x-a" = "b", x-c = "d" }
caps = [
  "a = b",
  "[not.a.table]",
]
after = 1

[[rules]]
use = "x"

[[rules]]
name = "two"
  indented = true

[rules.when]
step = "plan"

[routing]
'quoted.key' = 1
dotted.key = 2
"""


def test_lines_of_a_hand_written_profile() -> None:
    index = LineIndex(TEXT)
    assert tomllib.loads(TEXT)  # the sample itself is valid TOML
    expected = {
        ("extends",): 1,
        ("providers", "fast"): 3,
        ("providers", "fast", "base_url"): 5,
        ("providers", "fast", "headers"): 6,
        ("providers", "fast", "headers", "x-c"): 6,  # inside an inline table: its key's line
        ("providers", "fast", "after"): 11,
        ("rules", 0, "use"): 14,
        ("rules", 1): 16,
        ("rules", 1, "indented"): 18,
        ("rules", 1, "when", "step"): 21,
        ("routing", "quoted.key"): 24,
        ("routing", "dotted", "key"): 25,
        ("routing", "missing"): 23,  # falls back to the table header
        ("nowhere",): None,
    }
    for path, line in expected.items():
        assert index.line(path) == line, path


names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
scalars = st.integers(0, 9) | st.booleans() | st.text("ab =[]#", max_size=5)


@settings(max_examples=150, deadline=None)
@given(
    top=st.dictionaries(names, scalars, max_size=3),
    tables=st.dictionaries(
        names, st.dictionaries(names, scalars, min_size=1, max_size=4), max_size=4
    ),
)
def test_every_generated_key_is_found_on_its_line(top: dict, tables: dict) -> None:
    lines: list[str] = []
    where: dict[tuple[str, ...], int] = {}

    def emit(line: str) -> int:
        lines.append(line)
        return len(lines)

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v + '"'
        return str(v)

    for key, v in top.items():
        if key in tables:
            continue
        where[(key,)] = emit(f"{key} = {value(v)}")
    for name, table in tables.items():
        emit("")
        where[(name,)] = emit(f"[{name}]")
        for key, v in table.items():
            if isinstance(v, str) and "=" in v:
                # Multi-line arrays hide their items from the key scanner.
                where[(name, key)] = emit(f"{key} = [")
                emit(f"  {value(v)},")
                emit("]")
            else:
                where[(name, key)] = emit(f"{key} = {value(v)}")
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)
    index = LineIndex(text)
    for path, line in where.items():
        assert index.line(path) == line, (path, text)
