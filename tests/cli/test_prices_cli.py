"""`agentwrap prices`: the table in use, the profile's overrides, and --refresh through
genai-prices' own updater against real local HTTP servers (and none, as when offline)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import genai_prices
import pytest
from genai_prices import data_snapshot
from typer.testing import CliRunner

from agentwrap.cli.main import build_app

app = build_app()
runner = CliRunner()

NEWER = [
    {
        "id": "anthropic",
        "name": "Anthropic",
        "api_pattern": "https://api\\.anthropic\\.com",
        "models": [
            {
                "id": "claude-opus-9-9",
                "match": {"equals": "claude-opus-9-9"},
                "prices": {"input_mtok": 3, "output_mtok": 15},
            }
        ],
    }
]


@pytest.fixture(autouse=True)
def in_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    # A refresh replaces the table for the whole process: later tests get the bundled one.
    data_snapshot.set_custom_snapshot(None)


@pytest.fixture
def serve() -> Iterator[list[tuple[int, bytes]]]:
    """A local server answering GET with the (status, body) pairs appended, in order."""
    script: list[tuple[int, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = script.pop(0)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    script.append((0, str(server.server_address[1]).encode()))  # the port, for the test
    try:
        yield script
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_table_its_version_and_what_each_tier_resolves_to() -> None:
    result = runner.invoke(app, ["prices"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"price table: genai-prices {genai_prices.__version__}, bundled")
    assert lines[1] == "profile passthrough: no price overrides"
    opus = next(line for line in lines if line.startswith("claude-opus-5-5 "))
    assert opus.split() == ["claude-opus-5-5", "anthropic", "$4", "$20", "$5", "$0.2", "table"] + [
        "newest",
        "opus",
    ]
    data = json.loads(runner.invoke(app, ["prices", "--json", "claude-opus-4-8"]).stdout)
    assert data["table"]["version"] == f"genai-prices {genai_prices.__version__}"
    assert data["table"]["refreshed"] is False and data["table"]["fetched_at"] is None
    (row,) = data["models"]
    assert (row["model"], row["input"], row["output"], row["source"]) == (
        "claude-opus-4-8",
        "5",
        "25",
        "table",
    )


def test_the_profiles_overrides_are_applied_and_named(in_repo: Path) -> None:
    (in_repo / ".agentwrap.toml").write_text(
        '[models.mine]\nprovider = "anthropic"\nmodel = "claude-opus-4-8"\n'
        "price = { input = 1.5, output = 7 }\n"
    )
    result = runner.invoke(app, ["prices", "claude-opus-4-8", "unknown-model-7"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "profile .agentwrap.toml: overrides the price of claude-opus-4-8" in lines
    mine = next(line for line in lines if line.startswith("claude-opus-4-8 "))
    assert mine.split()[2:4] == ["$1.5", "$7"] and "profile .agentwrap.toml" in mine
    unknown = next(line for line in lines if line.startswith("unknown-model-7 "))
    assert "no price for model 'unknown-model-7'" in unknown


def test_refresh_offline_says_so_and_keeps_the_bundled_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENTWRAP_PRICES_URL", f"http://127.0.0.1:{closed_port()}/data.json")
    result = runner.invoke(app, ["prices", "--refresh", "claude-opus-5-5"])
    assert result.exit_code == 0, result.output
    assert (
        "agentwrap: could not refresh the price table (ConnectError: " in result.stderr
        and result.stderr.rstrip().endswith("; using the bundled table")
    )
    assert result.stdout.startswith(
        f"price table: genai-prices {genai_prices.__version__}, bundled"
    )
    assert "claude-opus-5-5  anthropic  $4" in result.stdout


def test_refresh_that_gets_an_error_or_no_table_keeps_the_bundled_one(
    serve: list[tuple[int, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = int(serve.pop(0)[1])
    monkeypatch.setenv("AGENTWRAP_PRICES_URL", f"http://127.0.0.1:{port}/data.json")
    serve.append((503, b'{"error": "busy"}'))
    result = runner.invoke(app, ["prices", "--refresh", "--json"])
    assert "could not refresh the price table (HTTPStatusError: " in result.stderr
    assert json.loads(result.stdout)["table"]["refreshed"] is False
    serve.append((200, b'{"not": "a list"}'))
    result = runner.invoke(app, ["prices", "--refresh", "--json"])
    assert "could not refresh the price table (ValueError: " in result.stderr


def test_refresh_uses_the_newer_table_for_the_command(
    serve: list[tuple[int, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = int(serve.pop(0)[1])
    url = f"http://127.0.0.1:{port}/data.json"
    monkeypatch.setenv("AGENTWRAP_PRICES_URL", url)
    serve.append((200, json.dumps(NEWER).encode()))
    result = runner.invoke(app, ["prices", "--refresh", "claude-opus-9-9"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"price table: genai-prices {genai_prices.__version__}, fetched ")
    assert lines[0].endswith("(1 providers, 1 models)")
    assert f"refreshed from {url} (for this command; sessions use the bundled table)" in lines
    newer = next(line for line in lines if line.startswith("claude-opus-9-9 "))
    assert newer.split()[1:4] == ["anthropic", "$3", "$15"]
