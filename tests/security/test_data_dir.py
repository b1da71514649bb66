"""After a session, nothing in agentwrap's data directory holds a credential, the session
secret or a word of the conversation: every byte of every file is searched (the store, its
WAL and shared memory, the error log)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentwrap import paths
from agentwrap.fakes.provider import FakeProvider, Reply

KEY = "sk-ant-api03-dummy-key-4b1d"
TOKEN = "oauth-dummy-token-77c3"
COOKIE = "dummy-cookie-9e2f"
GATEWAY = "dummy-gateway-key-5a60"
PROMPT = "Please refactor the frobnicator canary 31337"
ANSWER = "Here is the refactored widget canary 42424"

# The agent: the official SDK, with every kind of credential, then one request aiohttp refuses
# (so the error log is there to search too); it leaves the session secret for the test.
CLIENT = f"""\
import os, socket, sys
from urllib.parse import urlsplit
import anthropic

base = os.environ["ANTHROPIC_BASE_URL"]
open(sys.argv[1], "w").write(base.rsplit("/", 1)[1])
client = anthropic.Anthropic(
    base_url=base, api_key={KEY!r}, max_retries=0,
    default_headers={{"authorization": "Bearer {TOKEN}", "cookie": "session={COOKIE}",
                     "x-gateway-key": {GATEWAY!r}}},
)
for stream in (False, True):
    if stream:
        with client.messages.stream(model="claude-haiku-4-5", max_tokens=64,
                                    messages=[{{"role": "user", "content": {PROMPT!r}}}]) as s:
            text = s.get_final_text()
    else:
        text = client.messages.create(model="claude-haiku-4-5", max_tokens=64,
            messages=[{{"role": "user", "content": {PROMPT!r}}}]).content[0].text
    assert text == {ANSWER!r}, text
url = urlsplit(base)
with socket.create_connection((url.hostname, url.port)) as s:
    s.sendall(f"POST {{url.path}}/v1/messages HTTP/1.1 extra\\r\\nHost: x\\r\\n\\r\\n".encode())
    s.recv(100)
"""


@pytest.mark.slow
def test_no_credential_secret_or_conversation_text_is_stored(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    client = tmp_path / "client.py"  # a file: the command line is recorded (scrubbed) as given
    client.write_text(CLIENT)
    with FakeProvider("anthropic", default=Reply(text=ANSWER)) as fake:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "agentwrap"), "run", "--panel", "off", "--",
             sys.executable, str(client), str(secret_file)],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
            env={**os.environ, "AGENTWRAP_ANTHROPIC_UPSTREAM": fake.base_url},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert len(fake.generating()) == 2
    secret = secret_file.read_text()
    files = [p for p in paths.data_dir().rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"trace.db", "agentwrap.log"} <= names, names
    for path in files:
        data = path.read_bytes()
        for needle in (KEY, TOKEN, COOKIE, GATEWAY, secret, PROMPT, ANSWER, "frobnicator"):
            assert needle.encode() not in data, f"{needle!r} is in {path.name}"
    # And what the session printed: the summary, the log line, nothing of the conversation.
    for needle in (KEY, TOKEN, COOKIE, GATEWAY, secret, PROMPT):
        assert needle not in done.stderr
