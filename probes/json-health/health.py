"""What json-health does with its params and a response, free of the host's imports so
it runs (and is unit-tested) under any Python 3.11+."""

import json
import re
from dataclasses import dataclass
from typing import Optional

import condition
import jsonpath

DEFAULT_TIMEOUT_MS = 5000
# Deepest nesting of arrays and objects parsed. CPython's parser recurses per level, and in
# the component the wasm stack runs out (a trap) long before Python's recursion limit.
MAX_NESTING = 64
# A string (escapes included) or one bracket: what the nesting scan steps over.
_STRUCTURE = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
PARAMS = ("url", "field", "expect", "method", "timeout_ms", "expect_status", "max_body_bytes")
# Longest value text quoted in a log line.
MAX_QUOTED_CHARS = 200


class ConfigError(ValueError):
    """A param is wrong; the message names it."""


@dataclass
class Config:
    url: str
    field: Optional[str] = None
    path: Optional[list] = None
    expect: Optional[condition.Condition] = None
    method: str = "GET"
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    expect_status: Optional[int] = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def status_is_up(self, status):
        if self.expect_status is None:
            return 200 <= status < 400
        return status == self.expect_status


def _integer(name, text, low, high, what):
    try:
        n = int(text.strip())
    except ValueError:
        n = None
    if n is None or not low <= n <= high:
        raise ConfigError(f"param {name}: {text!r} is not {what}")
    return n


def parse_params(params):
    values = {}
    for name, value in params:
        if name not in PARAMS:
            raise ConfigError(f"unknown param {name!r} (json-health takes: {', '.join(PARAMS)})")
        values[name] = value
    url = values.get("url", "").strip()
    if not url:
        raise ConfigError("param url is required (the address of the JSON document)")
    if not url.lower().startswith(("http://", "https://")):
        raise ConfigError(f"param url: {url!r} is not an http:// or https:// URL")
    config = Config(url=url)
    if "field" in values:
        config.field = values["field"].strip()
        try:
            config.path = jsonpath.parse(config.field)
        except jsonpath.PathError as e:
            raise ConfigError(f"param field: {values['field']!r} {e}") from None
    if "expect" in values:
        if config.path is None:
            raise ConfigError("param expect needs param field (the value it is about)")
        try:
            config.expect = condition.Condition(values["expect"])
        except condition.ConditionError as e:
            raise ConfigError(f"param expect: {e}") from None
    if "method" in values:
        method = values["method"].strip().upper()
        if not method.isascii() or not method.isalpha():
            raise ConfigError(f"param method: {values['method']!r} is not an HTTP method")
        config.method = method
    if "timeout_ms" in values:
        config.timeout_ms = _integer("timeout_ms", values["timeout_ms"], 1, 2**32 - 1, "a positive integer")
    if "expect_status" in values:
        config.expect_status = _integer(
            "expect_status", values["expect_status"], 100, 599, "an HTTP status (100-599)"
        )
    if "max_body_bytes" in values:
        config.max_body_bytes = _integer(
            "max_body_bytes", values["max_body_bytes"], 0, 2**32 - 1, "a byte count (0-4294967295)"
        )
    return config


@dataclass
class Outcome:
    """One check's result. `error` is the kind of failure, if any; `reason` says why it is down."""

    up: bool
    value: Optional[float] = None
    condition: Optional[bool] = None
    error: Optional[str] = None
    reason: str = ""


def too_deep(body, limit=MAX_NESTING):
    """Whether arrays and objects in `body` nest deeper than `limit` (outside strings)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for m in _STRUCTURE.finditer(body):
        c = m.group()[:1]
        if c in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif c in (b"]", b"}"):
            depth -= 1
    return False


def evaluate(config, status, body, truncated):
    """Judge a response: status, JSON, field and condition."""
    status_ok = config.status_is_up(status)
    down = "" if status_ok else f"status {status}"
    if truncated:
        return Outcome(False, error="truncated", reason=f"body longer than max_body_bytes={config.max_body_bytes}")
    if too_deep(body):
        return Outcome(False, error="invalid_json", reason=f"body nests deeper than {MAX_NESTING} levels")
    try:
        # JSON on the wire is UTF-8 (RFC 8259). Decoding here, rather than letting json.loads
        # guess UTF-16/32, also keeps codec modules from being imported at run time, which a
        # component with no files cannot do.
        document = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as e:
        # ValueError covers bad UTF-8 and integers past Python's digit limit too.
        return Outcome(False, error="invalid_json", reason=f"body is not JSON: {_quote(str(e))}")
    if config.path is None:
        return Outcome(status_ok, reason=down)
    try:
        found = jsonpath.lookup(document, config.path)
    except KeyError as e:
        return Outcome(False, error="field_missing", reason=str(e.args[0]))
    value = condition.numeric_value(found)
    if config.expect is None:
        return Outcome(status_ok, value=value, reason=down)
    holds, why = config.expect.holds(found)
    reasons = [r for r in (down, "" if holds else f"expect failed: {_quote(why)}") if r]
    return Outcome(status_ok and holds, value=value, condition=holds, reason="; ".join(reasons))


def _quote(text):
    return text if len(text) <= MAX_QUOTED_CHARS else text[:MAX_QUOTED_CHARS] + "..."


def samples(config, status, outcome, total_s):
    """(name, value, unit, extra labels) of a check that got a response."""
    out = [
        ("sonde.http.json.up", 1.0 if outcome.up else 0.0, "1", []),
        ("sonde.http.json.status_code", float(status), "1", []),
        ("sonde.http.json.duration", total_s, "s", []),
    ]
    field = [("field", config.field)] if config.field is not None else []
    if outcome.value is not None:
        out.append(("sonde.http.json.value", outcome.value, "1", field))
    if outcome.condition is not None:
        out.append(("sonde.http.json.condition", 1.0 if outcome.condition else 0.0, "1", field))
    if outcome.error is not None:
        out.append(("sonde.http.json.error", 1.0, "1", [("kind", outcome.error)]))
    return out


def unreachable_samples(kind):
    """The samples of a check whose request got no response (`kind` as http-check names it)."""
    return [
        ("sonde.http.json.up", 0.0, "1", []),
        ("sonde.http.json.error", 1.0, "1", [("kind", kind)]),
    ]
