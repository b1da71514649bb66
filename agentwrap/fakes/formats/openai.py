"""What OpenAI's two APIs share: the endpoints' places, a bearer token, errors, model lists."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentwrap.fakes.formats.base import Format


class OpenAIFormat(Format):
    """An OpenAI API: `POST …/<its endpoint>` asks the model, `GET …/models` lists them."""

    def endpoint(self, method: str, path: str) -> str | None:
        """The endpoint this API generates with, or models (under any path prefix)."""
        if method == "POST":
            return next((name for name in self.generates if path.endswith(f"/{name}")), None)
        if method == "GET" and path.endswith("/models"):
            return "models"
        return None

    def authorised(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        """A bearer token."""
        return headers.get("authorization", "").lower().startswith("bearer ")

    def error(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        """{"error": {"message", "type", "param", "code"}}."""
        code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
        if kind is None:
            kind = {401: "invalid_request_error", 429: "rate_limit_exceeded"}.get(
                status, "server_error" if status >= 500 else "invalid_request_error"
            )
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def models(self, names: list[str]) -> dict[str, Any]:
        """A model list."""
        data = [{"id": m, "object": "model", "created": 1, "owned_by": "fake"} for m in names]
        return {"object": "list", "data": data}
