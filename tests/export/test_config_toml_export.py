"""Export switched on by an [export.otlp] table in config.toml: the header comes from the named
variable, and the optional metrics split tokens and cost by model and step kind."""

from __future__ import annotations

import anthropic

from agentwrap import paths
from agentwrap.fakes.anthropic import FakeAnthropic, Reply
from tests.proxy.conftest import running_serve, wait_calls
from tests.support.otlp_receiver import OtlpReceiver, value_of


def test_config_toml_sends_named_headers_and_metrics(agentwrap_bin):
    with (
        OtlpReceiver() as collector,
        FakeAnthropic([Reply("ok", input_tokens=100, output_tokens=7,
                             cache_read_input_tokens=50)]) as fake,
    ):  # fmt: skip
        paths.config_file().parent.mkdir(parents=True, exist_ok=True)
        paths.config_file().write_text(
            "[export.otlp]\n"
            f'endpoint = "{collector.base_url}"\n'
            'headers_env = { "x-team-token" = "TEAM_TOKEN" }\n'
            "metrics = true\n"
        )
        env = {"TEAM_TOKEN": "tok-from-the-environment"}
        with running_serve(agentwrap_bin, fake.base_url, env=env) as url:
            sdk = anthropic.Anthropic(base_url=url, api_key="sk-ant-test", max_retries=0)
            sdk.messages.create(
                model="claude-sonnet-4-6", max_tokens=9, messages=[{"role": "user", "content": "x"}]
            )
            (call,) = wait_calls(1)
        spans = collector.wait_spans(2)
        bodies = list(collector.bodies)
        metrics = collector.metrics()

    assert {s.name.split(" ")[0] for s in spans} == {"invoke_agent", "chat"}
    for path, headers, _ in bodies:
        assert headers.get("x-team-token") == "tok-from-the-environment", path

    points: dict[str, list] = {}
    for request in metrics:
        for rm in request.resource_metrics:
            assert {a.key: value_of(a.value) for a in rm.resource.attributes}["service.name"] == (
                "agentwrap"
            )
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    kind = metric.WhichOneof("data")
                    points.setdefault(metric.name, []).extend(getattr(metric, kind).data_points)

    def attrs(point) -> dict:
        return {a.key: value_of(a.value) for a in point.attributes}

    usage = {attrs(p)["gen_ai.token.type"]: p for p in points["gen_ai.client.token.usage"]}
    assert usage["input"].sum == 150 and usage["output"].sum == 7  # cache reads count as input
    for point in usage.values():
        a = attrs(point)
        assert a["gen_ai.response.model"] == "claude-sonnet-4-6"
        assert a["agentwrap.step"] == call["step"]
        assert a["gen_ai.provider.name"] == "anthropic"
    (cost,) = points["agentwrap.cost"]
    assert abs(cost.as_double - call["cost_usd"]) < 1e-12 and cost.as_double > 0
    (calls,) = points["agentwrap.calls"]
    assert calls.as_int == 1
