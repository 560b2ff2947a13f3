"""The `expect` param: a condition on the value at `field`.

`[op] value` where op is `==` (the default when none is given), `!=`, `<`, `<=`,
`>`, `>=` or `~` (a regular expression searched in the value's text). The value
is read as JSON when it parses (`true`, `3`, `"ok"`, `null`), else as a string,
so `expect = "ok"` and `expect = "== \\"ok\\""` mean the same.
"""

import json
import math
import re

_OPS = ("==", "!=", "<=", ">=", "<", ">", "~")
_ORDERING = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class ConditionError(ValueError):
    """The condition text is not valid."""


class Condition:
    def __init__(self, text):
        body = text.strip()
        self.op = "=="
        for op in _OPS:
            if body.startswith(op):
                self.op = op
                body = body[len(op):].strip()
                break
        if not body and self.op != "==":
            raise ConditionError(f"{self.op!r} needs a value after it")
        self.text = text.strip()
        if self.op == "~":
            try:
                self.expected = re.compile(body)
            except re.error as e:
                raise ConditionError(f"{body!r} is not a regular expression: {e}") from None
            return
        self.expected = _literal(body)
        if self.op in _ORDERING and not _is_number(self.expected):
            raise ConditionError(f"{self.op!r} compares numbers, and {body!r} is not one")

    def holds(self, actual):
        """(True or False, why) for the value found at the field."""
        if self.op == "~":
            ok = self.expected.search(_text(actual)) is not None
            return ok, f"{_text(actual)!r} {'matches' if ok else 'does not match'} {self.expected.pattern!r}"
        if self.op in ("==", "!="):
            same = _equal(actual, self.expected)
            ok = same if self.op == "==" else not same
        else:
            number = _as_number(actual)
            if number is None:
                return False, f"{_text(actual)!r} is not a number"
            ok = _ORDERING[self.op](number, self.expected)
        return ok, f"{_text(actual)} {self.op} {_text(self.expected)} is {'true' if ok else 'false'}"


def _literal(body):
    try:
        return json.loads(body)
    except ValueError:
        return body


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _as_number(v):
    if _is_number(v):
        return v
    if isinstance(v, str):
        try:
            n = float(v)
        except ValueError:
            return None
        return n if math.isfinite(n) else None
    return None


def _text(v):
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True)


def _equal(a, b):
    if isinstance(a, str) != isinstance(b, str):
        # "200" and 200, "true" and true: compare the text forms.
        return _text(a) == _text(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def numeric_value(v):
    """The value as a sample value: numbers as they are, booleans as 1/0, else None."""
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if _is_number(v):
        return float(v)
    return None
