"""JSON Schema rewritten into the subset Gemini's function declarations accept.

Gemini rejects $schema, $ref/$defs, additionalProperties, const, oneOf/allOf, exclusive bounds,
type arrays and most string formats. The rewrite keeps the meaning a model needs: references are
inlined, ["x", "null"] becomes nullable, const becomes a one-value enum, oneOf becomes anyOf,
allOf is merged.
"""

from __future__ import annotations

from typing import Any

_KEEP = {
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "items",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "anyOf",
    "propertyOrdering",
    "default",
    "minimum",
    "maximum",
}
_STRING_FORMATS = {"enum", "date-time"}
_MAX_DEPTH = 12


def sanitize_for_gemini(schema: Any) -> dict[str, Any]:
    """A copy of `schema` Gemini will accept; the input is not changed."""
    if not isinstance(schema, dict):
        return {"type": "object"}
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        if isinstance(schema.get(key), dict):
            defs.update(schema[key])
    return _clean(schema, defs, 0)


def _resolve(ref: str, defs: dict[str, Any]) -> Any:
    name = ref.rsplit("/", 1)[-1]
    return defs.get(name)


def _clean(node: Any, defs: dict[str, Any], depth: int) -> dict[str, Any]:
    if not isinstance(node, dict) or depth > _MAX_DEPTH:
        return {"type": "string"} if depth > _MAX_DEPTH else {}
    if "$ref" in node:
        target = _resolve(str(node["$ref"]), defs)
        merged = {**(target if isinstance(target, dict) else {}), **node}
        merged.pop("$ref", None)
        return _clean(merged, defs, depth + 1)
    node = _merge_all_of(dict(node), defs, depth)
    if "oneOf" in node and "anyOf" not in node:
        node["anyOf"] = node.pop("oneOf")
    if "const" in node and "enum" not in node:
        node["enum"] = [node["const"]]
    out = _clean_type(node, defs, depth)
    for key, value in node.items():
        if key not in _KEEP or key == "type" or (key == "anyOf" and key in out):
            continue
        _clean_key(key, value, node, out, defs, depth)
    if out.get("type") == "null":
        out = {"type": "string", "nullable": True}
    return out


def _merge_all_of(node: dict[str, Any], defs: dict[str, Any], depth: int) -> dict[str, Any]:
    """`node` with each allOf member merged in: its own keys win, properties and required join."""
    if not isinstance(node.get("allOf"), list):
        return node
    for sub in node.pop("allOf"):
        if isinstance(sub, dict):
            sub = _clean(sub, defs, depth + 1)
            props = {**node.get("properties", {}), **sub.get("properties", {})}
            required = list(dict.fromkeys([*node.get("required", []), *sub.get("required", [])]))
            node = {**sub, **node}
            if props:
                node["properties"] = props
            if required:
                node["required"] = required
    return node


def _clean_type(node: dict[str, Any], defs: dict[str, Any], depth: int) -> dict[str, Any]:
    """The start of the cleaned node: one type, nullable for a null in a type array."""
    out: dict[str, Any] = {}
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            out["nullable"] = True
        if len(kinds) == 1:
            kind = kinds[0]
        elif kinds:
            out["anyOf"] = [_clean({**node, "type": k}, defs, depth + 1) for k in kinds]
            kind = None
        else:
            kind = "string"
    if isinstance(kind, str):
        out["type"] = kind
    return out


def _clean_key(
    key: str,
    value: Any,
    node: dict[str, Any],
    out: dict[str, Any],
    defs: dict[str, Any],
    depth: int,
) -> None:
    """One kept key of `node` written into `out` in the form Gemini accepts, or left out."""
    if key == "properties" and isinstance(value, dict):
        props = {name: _clean(sub, defs, depth + 1) for name, sub in value.items()}
        if props:
            out["properties"] = props
    elif key == "items":
        out["items"] = _clean(value, defs, depth + 1) if isinstance(value, dict) else {}
    elif key == "anyOf" and isinstance(value, list):
        _clean_any_of(value, out, defs, depth)
    elif key == "enum":
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            out["enum"] = value
            out.setdefault("type", "string")
    elif key == "format":
        if out.get("type", node.get("type")) != "string" or value in _STRING_FORMATS:
            out["format"] = value
    elif key == "required":
        names = node.get("properties") or {}
        keep = [r for r in value if r in names] if isinstance(value, list) else []
        if keep:
            out["required"] = keep
    else:
        out[key] = value


def _clean_any_of(value: list[Any], out: dict[str, Any], defs: dict[str, Any], depth: int) -> None:
    subs = [sub for sub in value if isinstance(sub, dict)]
    real = [sub for sub in subs if sub.get("type") != "null"]
    options = [_clean(sub, defs, depth + 1) for sub in real]
    if len(real) < len(subs):
        out["nullable"] = True
    if len(options) == 1:
        out.update({k: v for k, v in options[0].items() if k not in out})
    elif options:
        out["anyOf"] = options
