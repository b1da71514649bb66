"""`agentwrap profile check --probe`: each provider asked for its model list over real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentwrap.cli.main import build_app

runner = CliRunner()
GOOD_KEY = "probe-good-key"


class _Models(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        headers = {k.lower(): v for k, v in self.headers.items()}
        type(self).seen.append({"path": self.path, **headers})
        key = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
        if key != GOOD_KEY:
            self._send(401, {"error": {"type": "authentication_error", "message": "bad key"}})
        elif self.path.endswith("/models"):
            self._send(200, {"data": [{"id": "m-1"}, {"id": "m-2"}, {"id": "m-3"}]})
        else:
            self._send(404, {"error": "no such path"})

    def _send(self, status: int, doc: object) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def models_server() -> Iterator[str]:
    _Models.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _profile(tmp_path: Path, url: str, gone: str, routed: str = "good") -> Path:
    path = tmp_path / "probe.toml"
    path.write_text(
        f"""
[providers.anthropic]
api = "anthropic"
base_url = "{url}"
forward_agent_key = true

[providers.good]
api = "anthropic"
base_url = "{url}"
key_env = "PROBE_GOOD_KEY"

[providers.wrongkey]
api = "openai-chat"
base_url = "{url}/v1"
key_env = "PROBE_WRONG_KEY"

[providers.gateway]
api = "anthropic"
base_url = "{url}/gw"

[providers.gone]
api = "openai-chat"
base_url = "{gone}/v1"
key_env = "PROBE_GOOD_KEY"

[models.fast]
provider = "{routed}"
model = "m-1"
price = {{ input = 1.0, output = 2.0 }}

[routing]
explore = "fast"
"""
    )
    return path


def _lines(output: str) -> dict[str, str]:
    return {
        line.split()[1]: line for line in output.splitlines() if line.strip().startswith("probe ")
    }


def test_probe_says_what_each_provider_answered(
    tmp_path: Path, models_server: str, monkeypatch: pytest.MonkeyPatch, refused_url: str
) -> None:
    monkeypatch.setenv("PROBE_GOOD_KEY", GOOD_KEY)
    monkeypatch.setenv("PROBE_WRONG_KEY", "not-the-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", GOOD_KEY)
    result = runner.invoke(
        build_app(),
        [
            "profile",
            "check",
            "--probe",
            "--profile",
            str(_profile(tmp_path, models_server, refused_url)),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = _lines(result.output)
    assert "ok" in lines["good"] and "3 models" in lines["good"]
    # The agent's own provider, moved to a gateway (forward_agent_key), gets the agent's key.
    assert "ok" in lines["anthropic"] and "the agent's ANTHROPIC_API_KEY" in result.output
    assert "key rejected" in lines["wrongkey"] and "401" in lines["wrongkey"]
    assert "unreachable" in lines["gone"]
    # A provider on another host without a key of its own never gets the agent's key.
    assert "key rejected" in lines["gateway"]
    gateway_requests = [h for h in _Models.seen if h["path"].startswith("/gw/")]
    assert gateway_requests and all("x-api-key" not in h for h in gateway_requests)
    assert "the agent's own key is not sent to this host" in result.output
    # Keys are named, never printed.
    assert GOOD_KEY not in result.output and "not-the-key" not in result.output
    # Each API's own scheme and path: Anthropic's key header and version, OpenAI's bearer.
    good = next(h for h in _Models.seen if h["path"] == "/v1/models" and "x-api-key" in h)
    assert good["x-api-key"] == GOOD_KEY and good["anthropic-version"]
    wrong = next(h for h in _Models.seen if h["path"] == "/v1/models" and "authorization" in h)
    assert wrong["authorization"] == "Bearer not-the-key"


def test_probe_exits_1_when_a_routed_provider_fails(
    tmp_path: Path, models_server: str, monkeypatch: pytest.MonkeyPatch, refused_url: str
) -> None:
    monkeypatch.setenv("PROBE_GOOD_KEY", GOOD_KEY)
    monkeypatch.setenv("PROBE_WRONG_KEY", "not-the-key")
    profile = _profile(tmp_path, models_server, refused_url, routed="wrongkey")
    result = runner.invoke(build_app(), ["profile", "check", "--probe", "--profile", str(profile)])
    assert result.exit_code == 1, result.output
    assert "key rejected" in _lines(result.output)["wrongkey"]
    # Without --probe nothing is sent and the check passes.
    _Models.seen = []
    plain = runner.invoke(build_app(), ["profile", "check", "--profile", str(profile)])
    assert plain.exit_code == 0 and not _Models.seen and "probe " not in plain.output
