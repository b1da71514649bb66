"""Transparent mode: `agentwrap run --transparent` through a real mitmproxy, curl as the client.

curl sends CONNECT through the session's HTTPS_PROXY, so no name needs to resolve: an LLM API
host is decrypted and its call handed to agentwrap's front door (which forwards it to a local
fake provider), any other host is tunnelled with its own certificate.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agentwrap import paths
from agentwrap.fakes.anthropic import FakeAnthropic, Reply
from agentwrap.proxy.transparent import (
    Host,
    allow_patterns,
    handoff,
    intercepted_hosts,
    loopback_notes,
    websocket_call,
)
from agentwrap.route.profile import parse_profile_text
from agentwrap.trace.store import TraceStore

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

PROFILE = """
[providers.anthropic]
api = "anthropic"
base_url = "{url}"
# A local stand-in for the API's own host: the agent's own key goes there when told.
forward_agent_key = true

[models.small]
provider = "anthropic"
model = "claude-haiku-4-5"

[routing]
default = "small"
"""
REPLY = "Hello through the interceptor."


# -- what is intercepted, and which calls are handed over ---------------------------------------


def test_handoff_splits_the_agents_base_path_from_the_api_path():
    assert handoff("POST", "/v1/messages?beta=true") == ("", "v1/messages?beta=true")
    assert handoff("POST", "/v1/messages/count_tokens") == ("", "v1/messages/count_tokens")
    assert handoff("POST", "/v1/chat/completions") == ("/v1", "chat/completions")
    assert handoff("POST", "/api/v1/chat/completions") == ("/api/v1", "chat/completions")
    assert handoff("POST", "/backend-api/codex/responses") == ("/backend-api/codex", "responses")
    assert handoff("POST", "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse") == (
        "",
        "v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
    )
    # Anything else goes on to the host untouched: sign-ins, model lists, warm-ups.
    assert handoff("POST", "/v1/oauth/token") is None
    assert handoff("GET", "/v1/models") is None
    assert handoff("HEAD", "/") is None


def test_inference_over_a_websocket_is_recognised_to_be_refused():
    assert websocket_call("GET", "/v1/responses", "websocket")
    assert websocket_call("GET", "/backend-api/codex/responses", "WebSocket")
    assert not websocket_call("GET", "/v1/responses", None)  # a plain GET goes on
    assert not websocket_call("GET", "/v1/realtime", "websocket")  # not a call we serve


def test_the_known_llm_hosts_and_the_profiles_providers_are_intercepted():
    prof = parse_profile_text(
        '[providers.gw]\napi = "openai-chat"\nbase_url = "https://llm.example:8443/v1"\n'
        '[providers.plain]\napi = "anthropic"\nbase_url = "http://gw.example/anthropic"\n'
        '[providers.local]\napi = "anthropic"\nbase_url = "http://127.0.0.1:9/x"\n'
    )
    hosts = intercepted_hosts(prof)
    assert Host("https", "api.anthropic.com", 443) in hosts
    assert Host("https", "generativelanguage.googleapis.com", 443) in hosts
    assert Host("https", "openrouter.ai", 443) in hosts
    assert Host("https", "llm.example", 8443) in hosts
    assert Host("http", "gw.example", 80) in hosts
    assert not [h for h in hosts if h.name == "127.0.0.1"]  # loopback stays direct
    import re

    patterns = allow_patterns(hosts)
    allowed = [
        name
        for name in (
            "api.anthropic.com:443",
            "xapi.anthropic.com:443",
            "api.anthropic.com.evil.example:443",
            "llm.example:8443",
            "llm.example:443",
            "gw.example:80",
        )
        if any(re.search(p, name, re.IGNORECASE) for p in patterns)
    ]
    # Only exact TLS hosts and ports are decrypted (plain HTTP has no TLS to leave alone).
    assert allowed == ["api.anthropic.com:443", "llm.example:8443"]


def test_a_loopback_base_url_is_named_as_not_intercepted():
    notes = loopback_notes(
        {"ANTHROPIC_BASE_URL": "http://127.0.0.1:8080", "OPENAI_BASE_URL": "https://gw.example"}
    )
    assert len(notes) == 1 and "ANTHROPIC_BASE_URL" in notes[0] and "NOT" in notes[0]


# -- the front door reads the endpoint the agent meant ------------------------------------------


@pytest.mark.parametrize("transparent", [True, False])
async def test_the_endpoint_header_picks_the_passthrough_provider_in_transparent_sessions(
    transparent, tmp_path
):
    import time

    import openai

    from agentwrap.fakes.provider import FakeProvider
    from agentwrap.fakes.provider import Reply as ChatReply
    from agentwrap.proxy.frontdoor import Proxy
    from agentwrap.proxy.options import ProxyOptions
    from agentwrap.trace.recorder import Recorder

    async with (
        FakeProvider("openai-chat", [ChatReply(text="from openai")]) as usual,
        FakeProvider("openai-chat", [ChatReply(text="from the gateway")]) as gateway,
    ):
        prof = parse_profile_text(
            f'[providers.openai]\napi = "openai-chat"\nbase_url = "{usual.base_url}"\n'
            "forward_agent_key = true\n"
            f'[providers.gw]\napi = "openai-chat"\nbase_url = "{gateway.base_url}"\n'
        )
        store = TraceStore(tmp_path / "t.db")
        store.insert_session(id="s", agent="test", started_at=time.time())
        recorder = Recorder(store, "s")
        proxy = Proxy(prof, recorder, options=ProxyOptions(transparent=transparent))
        url = await proxy.start()
        try:
            client = openai.AsyncOpenAI(
                base_url=url + "/v1",
                api_key="sk-agent",
                max_retries=0,
                default_headers={"x-agentwrap-endpoint": gateway.base_url},
            )
            done = await client.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": "hi"}]
            )
        finally:
            await proxy.stop()
            recorder.close()
        reached = gateway if transparent else usual
        (sent,) = reached.requests
    assert done.choices[0].message.content == ("from the gateway" if transparent else "from openai")
    assert "x-agentwrap-endpoint" not in sent.headers  # never forwarded
    assert sent.headers["authorization"] == "Bearer sk-agent"  # the agent's own key, passed on
    (call,) = TraceStore(tmp_path / "t.db").calls("s")
    assert call["provider"] == ("gw" if transparent else "openai")


# -- the real thing: agentwrap run --transparent -----------------------------------------------


def agentwrap(
    *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).parent / "agentwrap")
    return subprocess.run(
        [exe, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def streamed_text(sse: str) -> str:
    """The text of an Anthropic event stream."""
    text = ""
    for line in sse.splitlines():
        if line.startswith("data: "):
            event = json.loads(line[6:])
            if event.get("type") == "content_block_delta":
                text += event["delta"].get("text", "")
    return text


def only_session() -> tuple[dict, list[dict]]:
    store = TraceStore(paths.trace_db())
    try:
        (sess,) = store.sessions(10)
        return sess, store.calls(sess["id"])
    finally:
        store.close()


@needs_curl
def test_curl_to_api_anthropic_com_is_intercepted_routed_and_recorded(tmp_path):
    with FakeAnthropic(default=Reply(REPLY, input_tokens=1200, output_tokens=9)) as fake:
        profile = tmp_path / "p.toml"
        profile.write_text(PROFILE.format(url=fake.base_url))
        body = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 256,
            "stream": True,
            "messages": [{"role": "user", "content": "say hello"}],
        }
        done = agentwrap(
            "run",
            "--transparent",
            "--quiet",
            "--profile",
            str(profile),
            "--",
            "curl",
            "-sS",
            "--fail-with-body",
            "https://api.anthropic.com/v1/messages",
            "-H",
            "x-api-key: sk-ant-transparent-test",
            "-H",
            "anthropic-version: 2023-06-01",
            "-H",
            "content-type: application/json",
            "-d",
            json.dumps(body),
        )
        assert done.returncode == 0, done.stderr
        assert streamed_text(done.stdout) == REPLY
        assert done.stdout.rstrip().endswith('{"type":"message_stop"}')  # the stream, whole
        (sent,) = fake.message_requests
    # Routed by the profile: the fake answered for the model the routing chose.
    assert sent.body["model"] == "claude-haiku-4-5"
    assert sent.headers["x-api-key"] == "sk-ant-transparent-test"  # the agent's own key
    assert "x-agentwrap-endpoint" not in sent.headers
    sess, calls = only_session()
    assert sess["agent"] == "curl" and sess["exit_code"] == 0
    (call,) = calls
    assert call["status"] == "ok" and call["streamed"] == 1
    assert call["requested_model"] == "claude-sonnet-4-5" and call["model"] == "claude-haiku-4-5"
    assert call["model_alias"] == "small" and call["provider"] == "anthropic"
    assert call["step"] and call["evidence"]  # classified
    assert call["input_tokens"] == 1200 and call["output_tokens"] == 9
    assert "sk-ant-transparent-test" not in json.dumps(calls)


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, signed by its own key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "origin.agentwrap.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "origin.pem", directory / "origin.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@contextmanager
def https_origin(directory: Path) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on 127.0.0.1 with its own self-signed certificate: (port, cert file)."""
    cert_file, key_file = _self_signed(directory)

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"origin says hi\n"
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], cert_file
    finally:
        server.shutdown()
        server.server_close()


@needs_curl
def test_a_host_that_is_not_an_llm_api_is_tunnelled_undecrypted(tmp_path):
    with https_origin(tmp_path) as (port, origin_cert):
        done = agentwrap(
            "run",
            "--transparent",
            "--quiet",
            "--",
            "curl",
            "-sS",
            "--noproxy",
            "",  # NO_PROXY keeps loopback direct; this call must take the session's proxy
            "--cacert",
            str(origin_cert),  # trusts the origin's certificate and nothing else
            "-w",
            "\nconnect=%{http_connect}\n%{certs}",
            f"https://localhost:{port}/",
        )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("origin says hi\n")
    assert "connect=200" in out  # it went through the proxy's tunnel
    # The client saw the origin's own certificate, not one the session CA issued.
    assert "origin.agentwrap.test" in out and "agentwrap 2" not in out
    seen = out.split("-----BEGIN CERTIFICATE-----", 1)[1].split("-----END CERTIFICATE-----")[0]
    assert "".join(seen.split()) in "".join(origin_cert.read_text().split())


@needs_curl
def test_the_same_origin_is_decrypted_when_it_is_a_providers_host(tmp_path):
    # The control for the test above: the profile names the host, so mitmproxy decrypts it,
    # and a client that trusts only the origin's certificate refuses the session CA's.
    with https_origin(tmp_path) as (port, origin_cert):
        profile = tmp_path / "p.toml"
        profile.write_text(
            f'[providers.gw]\napi = "anthropic"\nbase_url = "https://x.test:{port}"\n'
        )
        done = agentwrap(
            "run",
            "--transparent",
            "--quiet",
            "--profile",
            str(profile),
            "--",
            "curl",
            "-sS",
            "--noproxy",
            "",
            "--connect-to",
            f"x.test:{port}:localhost:{port}",
            "--cacert",
            str(origin_cert),
            f"https://x.test:{port}/",
        )
    assert done.returncode != 0
    assert "certificate" in done.stderr.lower()


def test_the_agent_env_and_the_session_ca_which_is_gone_afterwards(tmp_path):
    theirs, _ = _self_signed(tmp_path)  # a CA the user already gives Node (a company's)
    env = {k: v for k, v in os.environ.items() if "CERT" not in k and "BUNDLE" not in k}
    env["NODE_EXTRA_CA_CERTS"] = str(theirs)
    report = tmp_path / "seen.json"
    script = (
        "import json, os, stat, sys\n"
        "ca = os.path.dirname(os.environ['SSL_CERT_FILE'])\n"
        "json.dump({'env': dict(os.environ), 'ca': ca,\n"
        "           'mode': stat.S_IMODE(os.stat(ca).st_mode), 'files': sorted(os.listdir(ca)),\n"
        "           'bundle': open(os.environ['SSL_CERT_FILE']).read(),\n"
        "           'node': open(os.environ['NODE_EXTRA_CA_CERTS']).read()},\n"
        f"          open({str(report)!r}, 'w'))\n"
        "sys.exit(3)\n"
    )
    done = agentwrap("run", "--transparent", "--quiet", "--", sys.executable, "-c", script, env=env)
    assert done.returncode == 3, done.stderr  # the agent's own exit code
    seen = json.loads(report.read_text())
    child = seen["env"]
    assert child["HTTPS_PROXY"] == child["https_proxy"]
    assert child["HTTPS_PROXY"].startswith("http://127.0.0.1:")
    assert "HTTP_PROXY" not in child  # no plain-HTTP provider in this profile
    for var in ("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL", "GOOGLE_GEMINI_BASE_URL"):
        assert var not in child  # no base URL: the agent keeps its own hosts
    assert {"127.0.0.1", "localhost"} <= set(child["NO_PROXY"].split(","))
    assert child["REQUESTS_CA_BUNDLE"] == child["CURL_CA_BUNDLE"] == child["SSL_CERT_FILE"]
    assert seen["mode"] == 0o700 and "mitmproxy-ca.pem" in seen["files"]  # the CA's key
    # Node gets the user's own extra CA and the session's; the bundle the system's roots too.
    node = seen["node"]
    assert node.startswith(theirs.read_text()) and node.count("BEGIN CERTIFICATE") == 2
    session_ca = "-----BEGIN CERTIFICATE-----" + node.split("-----BEGIN CERTIFICATE-----")[2]
    assert seen["bundle"].endswith(session_ca) and seen["bundle"].count("BEGIN CERTIFICATE") > 10
    assert not os.path.exists(seen["ca"])  # removed with the session, exit 3 or not
    sess, _ = only_session()
    assert sess["exit_code"] == 3


def test_a_killed_sessions_ca_is_removed_by_the_next_transparent_session(tmp_path):
    import signal
    import time

    seen = tmp_path / "seen"
    script = (
        "import os, pathlib, time\n"
        # written aside and renamed, so the test never reads it half-written
        f"pathlib.Path({str(seen)!r} + '.part').write_text(f\"{{os.getpid()}} {{os.environ['SSL_CERT_FILE']}}\")\n"
        f"os.replace({str(seen)!r} + '.part', {str(seen)!r})\n"
        "time.sleep(120)\n"
    )
    exe = str(Path(sys.executable).parent / "agentwrap")
    proc = subprocess.Popen(
        [exe, "run", "--transparent", "--quiet", "--", sys.executable, "-c", script],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not seen.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child, bundle = seen.read_text().split(" ", 1)
    ca = Path(bundle).parent
    proc.kill()  # SIGKILL: agentwrap gets no chance to clean up
    proc.wait(timeout=30)
    os.kill(int(child), signal.SIGKILL)
    assert ca.is_dir() and (ca / "mitmproxy-ca.pem").exists()  # the key, left behind
    done = agentwrap("run", "--transparent", "--quiet", "--", "true")
    assert done.returncode == 0, done.stderr
    assert not ca.exists()


def test_only_ca_directories_of_agentwraps_that_are_gone_are_removed(tmp_path):
    from agentwrap.proxy.transparent import remove_orphan_cas

    gone = subprocess.Popen(["true"])
    gone.wait()
    running = tmp_path / f"agentwrap-ca-{os.getpid()}-abc"
    orphan = tmp_path / f"agentwrap-ca-{gone.pid}-def"
    other = tmp_path / "agentwrap-cache-1-x"
    for folder in (running, orphan, other):
        folder.mkdir()
        (folder / "mitmproxy-ca.pem").write_text("key")
    assert remove_orphan_cas(tmp_path) == [orphan]
    assert running.exists() and other.exists() and not orphan.exists()


def test_the_roots_a_user_set_stay_trusted_beside_the_session_ca(tmp_path):
    from agentwrap.proxy.transparent import SessionCA

    theirs, _ = _self_signed(tmp_path)
    ca = SessionCA("s", {"SSL_CERT_FILE": str(theirs), "REQUESTS_CA_BUNDLE": str(theirs)})
    try:
        bundle = ca.bundle.read_text()
        assert bundle.startswith(theirs.read_text()) and bundle.count("BEGIN CERTIFICATE") == 2
        assert bundle.endswith(ca.cert.read_text())
    finally:
        ca.remove()
    assert not ca.dir.exists()


def _modules_loaded_by(*args: str) -> set[str]:
    code = (
        "import sys\n"
        "from agentwrap.cli.main import run\n"
        f"sys.argv = ['agentwrap', *{list(args)!r}]\n"
        "try:\n    run()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=90, check=False
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


# A command that calls the proxy: the proxy loads while the agent starts, and one that exits
# at once (`true`) may be gone before it has.
CALLS_THE_PROXY = (
    sys.executable,
    "-c",
    "import os, urllib.request; "
    "urllib.request.urlopen(os.environ['ANTHROPIC_BASE_URL'] + '/_agentwrap/health', timeout=30)",
)


def test_mitmproxy_is_imported_only_by_a_transparent_session():
    plain = _modules_loaded_by("run", "--quiet", "--", *CALLS_THE_PROXY)
    assert "aiohttp" in plain and "mitmproxy" not in plain
    assert "mitmproxy" in _modules_loaded_by("run", "--transparent", "--quiet", "--", "true")


def test_a_transparent_qwen_keeps_the_sessions_proxy_and_is_not_told_it_was_cleared(tmp_path):
    # A pointed launch clears qwen's proxy variables (it sends even loopback calls through
    # them) and says so; a transparent one sets them to the session's proxy instead.
    report = tmp_path / "seen.json"
    qwen = tmp_path / "qwen"
    qwen.write_text(
        f"#!{sys.executable}\n"
        "import json, os\n"
        f"json.dump(dict(os.environ), open({str(report)!r}, 'w'))\n"
    )
    qwen.chmod(0o755)
    env = {**os.environ, "AGENTWRAP_QWEN_BIN": str(qwen), "HTTPS_PROXY": "http://corp:3128"}
    done = agentwrap("qwen", "--transparent", "--quiet", "-p", "hi", env=env)
    assert done.returncode == 0, done.stderr
    child = json.loads(report.read_text())
    assert child["HTTPS_PROXY"].startswith("http://127.0.0.1:")  # the session's proxy
    assert "cleared" not in done.stderr
    pointed = agentwrap("qwen", "--quiet", "-p", "hi", env=env)
    assert pointed.returncode == 0, pointed.stderr
    assert "HTTPS_PROXY cleared for qwen" in pointed.stderr  # the control: said when true
    assert "HTTPS_PROXY" not in json.loads(report.read_text())
