"""The price table's model ids, remembered between runs: the same answers as the table, a
launch's profile resolved without loading the table, and a new table read again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentwrap import modellist
from agentwrap.pricing import PriceBook
from agentwrap.route.profile import load_profile, preset_names
from tests.conftest import subprocess_env

VENDORS = ("anthropic", "openai", "google")


@pytest.mark.usefixtures("agentwrap_home")
def test_remembered_ids_are_the_tables_and_a_new_table_is_read_again() -> None:
    table = {vendor: PriceBook().model_ids(vendor) for vendor in VENDORS}
    assert not modellist.cache_file().exists()
    assert {v: modellist.bundled_model_ids(v) for v in VENDORS} == table  # read and kept
    kept = json.loads(modellist.cache_file().read_text())
    assert kept == {"key": modellist.table_key(), "vendors": table}
    assert modellist.cache_file().stat().st_mode & 0o077 == 0  # the user's alone

    # Ids kept under another table's key are not this table's: read again, and replaced.
    kept["key"] = "another genai-prices"
    kept["vendors"]["anthropic"] = ["claude-from-another-table"]
    modellist.cache_file().write_text(json.dumps(kept))
    assert modellist.bundled_model_ids("anthropic") == table["anthropic"]
    assert json.loads(modellist.cache_file().read_text())["key"] == modellist.table_key()


@pytest.mark.usefixtures("agentwrap_home")
def test_every_preset_resolves_its_tiers_the_same_with_remembered_ids() -> None:
    for name in preset_names():
        direct = load_profile(explicit=name, env={})
        for _ in range(2):  # the first reads the table, the second the file
            remembered = load_profile(explicit=name, env={}, model_ids=modellist.bundled_model_ids)
            assert {a: m.model for a, m in remembered.models.items()} == {
                a: m.model for a, m in direct.models.items()
            }, name


def test_a_launch_resolves_a_tiered_profile_without_loading_the_table(
    agentwrap_home: Path, tmp_path: Path
) -> None:
    # The agent starts after the profile is checked: with the ids remembered, genai-prices
    # (a few hundred milliseconds to load) is not among what the launch loaded before it.
    # The probe writes down the loaded modules as the session spawns the agent.
    stand_in = tmp_path / "agent"
    stand_in.write_text(
        f'#!/bin/sh\n{sys.executable} -c "import sys; print(sys.argv[1:])" >/dev/null\n'
    )
    stand_in.chmod(0o755)
    code = (
        "import json, sys\n"
        "import agentwrap.session as session\n"
        "spawn = session.Session.spawn_child\n"
        "def spawn_child(self, plan):\n"
        "    with open(OUT, 'w') as f:\n"
        "        json.dump(sorted(sys.modules), f)\n"
        "    return spawn(self, plan)\n"
        "session.Session.spawn_child = spawn_child\n"
        "from agentwrap.cli.main import run\n"
        "sys.argv = ['agentwrap', 'run', '--quiet', '--profile', 'balanced', '--', AGENT]\n"
        "try:\n    run()\nexcept SystemExit:\n    pass\n"
    )
    out = tmp_path / "modules.json"
    code = code.replace("OUT", repr(str(out))).replace("AGENT", repr(str(stand_in)))
    for _ in range(2):  # the first launch reads the table and keeps the ids
        subprocess.run([sys.executable, "-c", code], env=subprocess_env(), timeout=120, check=True)
    before_the_agent = set(json.loads(out.read_text()))
    assert "agentwrap.route.profile" in before_the_agent  # the profile was checked first
    assert "genai_prices" not in before_the_agent
