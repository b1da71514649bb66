"""`agentwrap route explain`: how a captured request would be routed, without sending it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentwrap import fmt
from agentwrap.agents import registry
from agentwrap.cli.profile import ProfileOpt, RouteOpt, fail, load_or_exit

if TYPE_CHECKING:
    from agentwrap.route.decide import Decision, Target
    from agentwrap.route.learn import Evidence
    from agentwrap.wire.call import Call
    from agentwrap.wire.surface import Route

# Routing and the API surfaces load inside the command, so building the CLI does not load them.

app = typer.Typer(
    help="Routing decisions: explain how a request would be routed.", no_args_is_help=True
)


def _evidence() -> Evidence:
    """What learned routing has learned on this machine (the trace store's tallies)."""
    from agentwrap.cli.store import open_store

    store = open_store()
    try:
        return store.evidence()
    finally:
        store.close()


def _read_json(path: Path, what: str) -> Any:
    try:
        if str(path) == "-":
            return json.loads(sys.stdin.read())
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise fail(f"{what} {path} is not valid JSON: {exc}") from None


def _captured_route(path: str) -> Route | None:
    """The route a captured path names, behind whatever host or session prefix it carries."""
    from agentwrap.wire.surface import match_route

    if "://" in path:
        from urllib.parse import urlsplit

        path = urlsplit(path).path
    parts = path.split("?", 1)[0].strip("/").split("/")
    for start in range(len(parts)):
        route = match_route("POST", "/".join(parts[start:]))
        if route is not None:
            return route
    return None


def _route(body: dict[str, Any], path: str | None, agent: str | None) -> Route:
    from agentwrap.wire.call import ANTHROPIC, GEMINI, OPENAI_CHAT, OPENAI_RESPONSES
    from agentwrap.wire.surface import SURFACES, Route

    route = _captured_route(path) if path else None
    if route is not None:
        return route
    known = registry.get(agent)
    if known is not None:
        surface = known.api
    elif "contents" in body:
        surface = GEMINI
    elif "input" in body:
        surface = OPENAI_RESPONSES
    elif "messages" in body and "max_tokens" not in body:
        surface = OPENAI_CHAT
    else:
        surface = ANTHROPIC
    return Route(surface, SURFACES[surface].call_endpoint(stream=False))


def load_request(
    request: Path, headers_file: Path | None, agent: str | None, sent_to: str | None = None
) -> tuple[Call, str | None]:
    """A Call from a request file: a bare JSON body, or a capture {"headers", "body", ...};
    `sent_to` is the path (or URL) the body was sent to, when the file does not say."""
    from agentwrap.wire.call import Call

    doc = _read_json(request, "request")
    if not isinstance(doc, dict):
        raise fail(f"request {request}: expected a JSON object")
    headers: dict[str, Any] = {}
    path = None
    label = None
    if isinstance(doc.get("body"), dict):
        # A capture: the body plus the headers and path it was sent with.
        body = doc["body"]
        headers = doc.get("headers") or {}
        path = doc.get("path")
        label = doc.get("label")
    else:
        body = doc
    path = sent_to or path
    if headers_file is not None:
        extra = _read_json(headers_file, "headers file")
        if not isinstance(extra, dict):
            raise fail(f"headers file {headers_file}: expected a JSON object of header: value")
        headers = {**headers, **extra}
    route = _route(body, path, agent)
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    return Call(route.surface, route.endpoint, body, lowered, route.path_model), label


def _target_json(target: Target, call: Call) -> dict[str, Any]:
    return {
        "alias": target.alias,
        "model": target.model_for(call),
        "provider": target.provider.name,
    }


def explain_json(call: Call, decision: Decision) -> dict[str, Any]:
    """The JSON form: {"step", "evidence", "rule", "model", "provider", "reason", "fallbacks"}."""
    step = decision.step
    return {
        "step": step.kind if step else None,
        "evidence": step.evidence if step else None,
        "rule": decision.rule,
        "model": decision.target.model_for(call),
        "provider": decision.target.provider.name,
        "reason": decision.reason,
        "fallbacks": [_target_json(t, call) for t in decision.fallbacks],
    }


@app.command("explain")
def explain_cmd(
    request: Annotated[
        Path,
        typer.Argument(
            help="A request body as JSON, or a capture {headers, body, path, label}; - reads stdin."
        ),
    ],
    headers: Annotated[
        Path | None, typer.Option("--headers", help="A JSON object of the request's HTTP headers.")
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent", help="The agent that sent it (claude, codex, gemini); default: detect."
        ),
    ] = None,
    profile: str | None = ProfileOpt,
    route: list[str] | None = RouteOpt,
    cost_so_far: Annotated[
        float,
        typer.Option("--cost-so-far", help="The session's cost so far in USD (for the budget)."),
    ] = 0.0,
    sent_to: Annotated[
        str | None,
        typer.Option(
            "--path",
            help="The path or URL the body was sent to (a Gemini request names its model there).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text.")] = False,
) -> None:
    """Explain how a captured request would be routed, without sending it."""
    from agentwrap.route.decide import SessionState, classify, decide

    if agent is not None and registry.get(agent) is None:
        known = ", ".join(a.name for a in registry.agents())
        raise fail(f"unknown agent '{agent}'; known: {known}")
    call, label = load_request(request, headers, agent, sent_to)
    loaded = load_or_exit(profile, route)
    step = classify(call, agent)
    state = SessionState(cost_usd=cost_so_far, agent=agent)
    # Learned routing explains itself from what it has learned here, without exploring.
    decision = decide(loaded, call, step, state, _evidence() if loaded.learns() else None)
    for warning in loaded.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        typer.echo(json.dumps(explain_json(call, decision), indent=2, ensure_ascii=False))
        return
    target = decision.target
    model = target.model_for(call)
    if model is None:
        model = "? (a Gemini request names its model in its path: give --path, or a capture)"
    rows = [
        ("step", step.kind + ("" if step.matched else "  (default: no marker matched)")),
        ("evidence", step.evidence),
        ("rule", decision.rule),
        ("model", f"{model}  ({target.alias or 'requested'})"),
        ("provider", f"{target.provider.name}  {target.provider.api}  {target.provider.base_url}"),
        ("reason", decision.reason),
        (
            "fallbacks",
            ", ".join(t.label(call) for t in decision.fallbacks) or fmt.MISSING,
        ),
        ("baseline", decision.baseline_model or fmt.MISSING),
        ("profile", f"{loaded.name} from {loaded.source}"),
    ]
    if decision.stop:
        rows.append(("budget", "stop: the call would not be sent"))
    if label:
        rows.append(("captured as", label))
    for key, value in rows:
        typer.echo(f"{key:<12}{value}")
