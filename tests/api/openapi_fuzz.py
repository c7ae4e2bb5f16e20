"""Hypothesis strategies for requests drawn from an app's OpenAPI schema: bodies mostly of the schema's
shape, at and just past its bounds (lengths, ranges, list sizes), mixed with arbitrary JSON and bytes
that are not JSON at all. Small on purpose: what the fuzz tests need, not a general schema library."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

__all__ = ["Operation", "any_json", "encode", "operations", "repeated", "valid_value_for", "value_for"]

Schema = dict[str, Any]

any_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: Schema

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.path}"

    def body_schema(self, content_type: str) -> Schema | None:
        content = self.spec.get("requestBody", {}).get("content", {})
        entry = content.get(content_type)
        return entry.get("schema") if isinstance(entry, dict) else None


def operations(openapi: Schema) -> list[Operation]:
    return [
        Operation(method, path, spec)
        for path, item in sorted(openapi["paths"].items())
        for method, spec in sorted(item.items())
        if method in ("get", "post", "put", "patch", "delete")
    ]


def value_for(
    schema: Schema, components: Schema, hints: dict[str, st.SearchStrategy[Any]] | None = None
) -> st.SearchStrategy[Any]:
    """Mostly a value that conforms to ``schema`` (``hints`` give values for fields by name, such as the
    one model id a gateway serves, so that valid requests reach the code behind the validation); else a
    value of its shape at and past its bounds, with wrong types and fields mixed in."""
    hints = hints or {}
    valid = _Draw(components, hints, strict=True).value(schema)
    return st.one_of(valid, valid, _Draw(components, hints).value(schema))


def valid_value_for(
    schema: Schema, components: Schema, hints: dict[str, st.SearchStrategy[Any]] | None = None
) -> st.SearchStrategy[Any]:
    """Only values that conform to ``schema`` (and take ``hints`` for the fields they name)."""
    return _Draw(components, hints or {}, strict=True).value(schema)


@dataclass(frozen=True)
class _Draw:
    components: Schema
    hints: dict[str, st.SearchStrategy[Any]]
    strict: bool = False

    def value(self, schema: Schema, depth: int = 0) -> st.SearchStrategy[Any]:
        shaped = self._shaped(schema, depth)
        return shaped if self.strict else st.one_of(shaped, shaped, shaped, any_json)

    def _shaped(self, schema: Schema, depth: int) -> st.SearchStrategy[Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
        if depth > 6:
            return st.none() if self.strict else any_json
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return st.one_of([self._shaped(option, depth + 1) for option in schema[key]])
        if "allOf" in schema:
            return self._shaped(schema["allOf"][0], depth + 1)
        if "const" in schema:
            return st.just(schema["const"]) if self.strict else st.just(schema["const"]) | st.text(max_size=10)
        if "enum" in schema:
            values = st.sampled_from(schema["enum"])
            return values if self.strict else values | st.text(max_size=10)
        kind = schema.get("type")
        if isinstance(kind, list):
            return st.one_of([self._shaped({**schema, "type": one}, depth) for one in kind])
        if kind == "object" or "properties" in schema:
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind == "string":
            return self._string(schema)
        if kind in ("integer", "number"):
            return self._number(schema, integer=kind == "integer")
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        return st.text(max_size=20) if self.strict else any_json

    def _object(self, schema: Schema, depth: int) -> st.SearchStrategy[Any]:
        properties: Schema = schema.get("properties", {})
        required = set(schema.get("required", []))
        fields = {name: self._field(name, sub, depth) for name, sub in properties.items()}
        complete = st.fixed_dictionaries(
            {name: fields[name] for name in properties if name in required},
            optional={name: fields[name] for name in properties if name not in required},
        )
        if self.strict:
            return complete
        # Sometimes a required field is missing, sometimes an unknown one is added.
        partial = st.fixed_dictionaries({}, optional=fields)
        extra = st.builds(lambda body, key, value: {**body, key: value}, complete, st.text(max_size=8), any_json)
        return st.one_of(complete, complete, partial, extra)

    def _field(self, name: str, schema: Schema, depth: int) -> st.SearchStrategy[Any]:
        value = self.value(schema, depth + 1)
        hint = self.hints.get(name)
        if hint is None:
            return value
        return hint if self.strict else st.one_of(hint, hint, value)

    def _array(self, schema: Schema, depth: int) -> st.SearchStrategy[Any]:
        items = self.value(schema.get("items", {}), depth + 1)
        low, high = schema.get("minItems", 0), schema.get("maxItems")
        within = st.lists(items, min_size=low, max_size=min(low + 3, high if high is not None else low + 3))
        if self.strict:
            return within
        options = [within]
        if low > 0:
            options.append(st.lists(items, max_size=low - 1))
        if high is not None:
            # Past the bound with copies of one item: long lists without drawing hundreds of values.
            options.append(st.builds(lambda item: [item] * (high + 1), items))
        return st.one_of(options)

    def _string(self, schema: Schema) -> st.SearchStrategy[Any]:
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        if "pattern" in schema:
            matching = st.from_regex(str(schema["pattern"]), fullmatch=True)
            if self.strict:
                return matching.filter(lambda text: low <= len(text) <= (high if high is not None else len(text)))
        within = st.text(min_size=low, max_size=min(high, low + 30) if high is not None else low + 30)
        longest = repeated("x", high) if high is not None else repeated("word ", 1000)
        if self.strict:
            return st.one_of(within, within, longest)
        options = [within, longest, repeated("x", low)]
        if "pattern" in schema:
            options.append(st.from_regex(str(schema["pattern"]), fullmatch=True))
        if high is not None:
            options.append(st.sampled_from(["a", "é", " ", "\n"]).flatmap(lambda c: repeated(c, high + 1)))
        else:
            options.append(repeated("word ", 5000))  # 25,000 characters: the "long message"
        return st.one_of(options)

    def _number(self, schema: Schema, *, integer: bool) -> st.SearchStrategy[Any]:
        low, high = schema.get("minimum"), schema.get("maximum")
        inside: st.SearchStrategy[Any]
        wide: st.SearchStrategy[Any]
        if integer:
            inside = st.integers(low, high)
            outside = [st.just(v + d) for v in (low, high) if v is not None for d in (-1, 1)]
            wide = st.integers(-(2**70), 2**70)
        else:
            inside = st.floats(low, high, allow_nan=False, allow_infinity=False)
            outside = [st.just(v) for v in (low, high) if v is not None]
            wide = st.floats(allow_nan=False, allow_infinity=False)
        return inside if self.strict else st.one_of(inside, wide, *outside)


def repeated(text: str, times: int) -> st.SearchStrategy[str]:
    """``text * times``, built when drawn (``st.just`` of a long string makes huge reprs)."""
    return st.builds(str.__mul__, st.just(text), st.just(times))


def encode(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")
