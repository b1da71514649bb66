"""Where a key sits in a TOML text, so profile errors can name a line.

`tomllib` gives values without positions. Profiles are small, hand-written files, so a
line scanner that follows table headers, array-of-tables counters and `key = value` lines is
enough; it finds the first line that defines a key path or, failing that, its nearest parent.
"""

from __future__ import annotations

import re

Path = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'))*)\s*="""
)


def _split_key(text: str) -> list[str]:
    """Split a dotted TOML key into parts, honouring quotes."""
    parts: list[str] = []
    for match in re.finditer(r"""\s*("([^"]*)"|'([^']*)'|[A-Za-z0-9_\-]+)\s*(\.|$)""", text):
        bare = match.group(1)
        if match.group(2) is not None:
            parts.append(match.group(2))
        elif match.group(3) is not None:
            parts.append(match.group(3))
        else:
            parts.append(bare)
    return parts


def _bracket_delta(line: str) -> int:
    """Open minus closed brackets/braces outside strings and comments (for multi-line arrays)."""
    depth = 0
    quote: str | None = None
    for ch in line:
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return depth


class LineIndex:
    """Maps key paths (e.g. ("rules", 0, "use")) to 1-based line numbers in one TOML text."""

    def __init__(self, text: str) -> None:
        self._lines: dict[Path, int] = {}
        self._build(text)

    def _record(self, path: Path, lineno: int) -> None:
        self._lines.setdefault(path, lineno)

    def _build(self, text: str) -> None:
        table: Path = ()
        counters: dict[Path, int] = {}
        depth = 0
        for lineno, line in enumerate(text.splitlines(), start=1):
            if depth > 0:
                # Inside a multi-line array or inline table: no keys start here.
                depth += _bracket_delta(line)
                continue
            header = _HEADER.match(line)
            if header and not _KEY.match(line):
                parts = _split_key(header.group(2))
                resolved = self._resolve(parts, counters)
                if header.group(1) == "[[":
                    base = tuple(resolved)
                    index = counters.get(base, -1) + 1
                    counters[base] = index
                    table = (*base, index)
                    self._record(base, lineno)
                else:
                    table = tuple(resolved)
                self._record(table, lineno)
                continue
            key = _KEY.match(line)
            if key:
                path = (*table, *_split_key(key.group(1)))
                self._record(path, lineno)
                depth = max(0, _bracket_delta(line[key.end() :]))

    @staticmethod
    def _resolve(parts: list[str], counters: dict[Path, int]) -> list[str | int]:
        # `[rules.when]` after `[[rules]]` belongs to the latest rules entry.
        out: list[str | int] = []
        for position, part in enumerate(parts):
            out.append(part)
            index = counters.get(tuple(out))
            if index is not None and position < len(parts) - 1:
                out.append(index)
        return out

    def line(self, path: Path) -> int | None:
        """The line defining `path`, else the line of its nearest parent, else None."""
        for end in range(len(path), 0, -1):
            found = self._lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return None
