"""The price table's model ids per vendor, remembered between runs.

A profile's `tier = "..."` resolves to the newest model of that class among the ids the price
table knows (agentwrap.route.tiers). Asking genai-prices for them loads its whole table, a few
hundred milliseconds, and a launch resolves its profile before the agent starts. So the ids
are kept in a small file in the data directory, under a key naming the bundled table's file
(its path, size and modification time): another genai-prices gives another key, and the ids
are read from the table again.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from agentwrap import paths


def cache_file() -> Path:
    return paths.data_dir() / "model-ids.json"


def table_key() -> str | None:
    """Names the bundled price table's file as installed; None when it cannot be found."""
    try:
        spec = importlib.util.find_spec("genai_prices")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    data = Path(next(iter(spec.submodule_search_locations))) / "data.py"
    try:
        st = data.stat()
    except OSError:
        return None
    return f"{data}:{st.st_size}:{st.st_mtime_ns}"


def read_keyed(path: Path, key: str, field: str) -> object:
    """What `write_keyed` kept in `path` under `field`, if it was kept under `key` (the table
    now installed); None when the file is missing, unreadable or another table's."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("key") != key:
        return None
    return doc.get(field)


def write_keyed(path: Path, key: str, field: str, value: object) -> None:
    """Keep `value` in `path` (private to the user) under `field`, for the table `key` names."""
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        paths.private_dir(path.parent)
        paths.private_file(scratch).write_text(
            json.dumps({"key": key, field: value}), encoding="utf-8"
        )
        os.replace(scratch, path)  # readers see the old file or the new one, never half
    except OSError:
        scratch.unlink(missing_ok=True)  # remembering is an optimisation: never an error


def _read(key: str) -> dict[str, list[str]]:
    vendors = read_keyed(cache_file(), key, "vendors")
    return vendors if isinstance(vendors, dict) else {}


def _write(key: str, vendors: dict[str, list[str]]) -> None:
    write_keyed(cache_file(), key, "vendors", vendors)


def bundled_model_ids(vendor: str) -> list[str]:
    """What `PriceBook().model_ids(vendor)` answers for genai-prices' bundled table, from the
    file when it holds that table's ids, else from the table (and remembered)."""
    from agentwrap.pricing import PriceBook

    key = table_key()
    if key is None:
        return PriceBook().model_ids(vendor)
    ids = _kept(key, vendor)
    if ids is not None:
        return ids
    from agentwrap.knownprices import AHEAD, read_ids_in_child

    # A child reads the table (and keeps its ids) when it can: this process need not load it.
    if vendor in AHEAD and read_ids_in_child() and (ids := _kept(key, vendor)) is not None:
        return ids
    ids = PriceBook().model_ids(vendor)
    _write(key, {**_read(key), vendor: ids})
    return ids


def _ids(value: object) -> list[str] | None:
    """`value` as a list of model ids, or None when it is not one."""
    if isinstance(value, list) and all(isinstance(i, str) for i in value):
        return list(value)
    return None


def _kept(key: str, vendor: str) -> list[str] | None:
    return _ids(_read(key).get(vendor))


def keep(key: str, vendors: dict[str, object]) -> None:
    """Keep the model ids a child read from the table `key` names, by vendor, with those
    already kept."""
    valid = {vendor: ids for vendor, value in vendors.items() if (ids := _ids(value)) is not None}
    if valid:
        _write(key, {**_read(key), **valid})
