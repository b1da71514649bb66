"""The scripted agent: a whole session against the simulators, and how it looks on the wire."""

from __future__ import annotations

from collections import Counter

import pytest

from agentwrap.route.classify import classify
from agentwrap.sim import scenario
from agentwrap.sim.agent import ScriptedAgent, ToolError, Workspace
from agentwrap.sim.providers import ANTHROPIC, SimProviders
from agentwrap.wire.call import Call


@pytest.fixture
async def played(sim: SimProviders):
    agent = ScriptedAgent(sim.base_url("anthropic", ANTHROPIC), speed=200)
    report = await agent.run()
    return agent, report


async def test_every_scripted_turn_is_played_once(sim, played) -> None:
    _, report = played
    served = sim.counts("exchange")
    assert served == Counter({e.name: 1 for e in scenario.EXCHANGES})
    assert 25 <= len(report.calls) <= 40
    assert report.ok
    # What the agent meant each call to be is what the script says it is.
    assert report.by_kind() == Counter(e.kind for e in scenario.EXCHANGES)
    # The overloaded answer was retried by the agent itself (no proxy in between).
    failed = [r for r in sim.received if r.status != 200]
    assert [(r.exchange, r.status) for r in failed] == [("plan-2", 529)]
    assert sum(c.retries for c in report.calls) == 1


async def test_the_work_really_happened(played) -> None:
    agent, report = played
    report_py = report.files["src/tally/report.py"]
    assert "def render_json(rows: list[Row]) -> str:" in report_py
    assert "default=_json_default" in report_py
    assert 'add_argument("--json"' in report.files["src/tally/cli.py"]
    assert "tally report --json" in report.files["README.md"]
    assert "tests/test_report_json.py" in report.files
    assert agent.workspace.bash("python -m pytest -q").startswith("...")


async def test_claude_code_classifier_sees_every_step_as_meant(sim) -> None:
    await ScriptedAgent(sim.base_url("anthropic", ANTHROPIC), speed=200).run()
    seen = []
    for r in sim.received:
        if r.status != 200:
            continue
        call = Call(ANTHROPIC, "messages", r.body or {}, r.headers)
        step = classify(call, "claude")
        seen.append((r.exchange, step.kind, step.matched))
        assert step.kind == scenario.by_name(r.exchange).kind, (r.exchange, step.evidence)
        assert step.matched, step.evidence
    kinds = Counter(kind for _, kind, _ in seen)
    assert kinds["explore"] == 8 and kinds["plan"] == 2 and kinds["compact"] == 1


async def test_wire_markers(sim) -> None:
    await ScriptedAgent(sim.base_url("anthropic", ANTHROPIC), speed=200).run()
    requests = [r for r in sim.received if r.status == 200]
    for r in requests:
        assert r.path.endswith("/v1/messages?beta=true")
        assert r.headers["user-agent"].startswith("claude-cli/")
        assert r.headers["anthropic-version"] == "2023-06-01"
        assert r.body and r.body["stream"] is True
    explore = [r for r in requests if scenario.by_name(r.exchange).kind == "explore"]
    main = [r for r in requests if scenario.by_name(r.exchange).kind in ("plan", "implement")]
    # Three subagents, each with its own id, none on the main loop.
    assert len({r.headers["x-claude-code-agent-id"] for r in explore}) == 3
    assert not any("x-claude-code-agent-id" in r.headers for r in main)
    assert all("cc_is_subagent=true" in r.body["system"][0]["text"] for r in explore)
    assert all("context_management" in r.body for r in main)
    assert not any("context_management" in r.body for r in explore)
    titles = [r for r in requests if r.exchange.startswith("title")]
    assert all(r.body["tools"] == [] and "format" in r.body["output_config"] for r in titles)
    # The failed edit went back to the model as an error tool result.
    retry = next(r for r in requests if r.exchange == "implement-edit-retry")
    last = retry.body["messages"][-1]["content"]
    assert last[0]["type"] == "tool_result" and last[0]["is_error"] is True


async def test_explore_subagents_run_concurrently(sim) -> None:
    await ScriptedAgent(sim.base_url("anthropic", ANTHROPIC), speed=200).run()
    at = {r.exchange: r.at for r in sim.received if r.status == 200}
    firsts = [at[f"explore-{k}-1"] for k in scenario.EXPLORE_TASKS]
    seconds = [at[f"explore-{k}-2"] for k in scenario.EXPLORE_TASKS]
    # Run one after another, a subagent's second turn would come before the next one's first.
    assert max(firsts) < min(seconds)


def test_workspace_tools_behave_like_the_real_ones() -> None:
    ws = Workspace()
    with pytest.raises(ToolError, match="String to replace not found"):
        ws.edit("src/tally/report.py", "def render_table(rows):", "x")
    with pytest.raises(ToolError, match="must be unique"):
        ws.edit("src/tally/report.py", "entry", "x")
    out = ws.edit("README.md", "# tally", "# tally (time tracker)")
    assert out.startswith("The file README.md has been updated") and "(time tracker)" in out
    assert ws.read("README.md").splitlines()[0] == "     1\t# tally (time tracker)"
    assert ws.grep("def build_rows", "src") == "Found 1 file\nsrc/tally/report.py"
    assert ws.glob("tests/**/*.py") == "tests/test_report.py"
    assert ws.bash("python -m pytest -q").startswith("..")
    ws.write("tests/test_report_json.py", "from tally.report import render_json\n")
    with pytest.raises(ToolError, match="cannot import name 'render_json'"):
        ws.bash("python -m pytest -q")
