"""The `field` param: a JSONPath-like path into a JSON document.

Syntax: an optional `$` root, then `.name` or a bare first `name`, `[N]` for
array index N (negative counts from the end) and `["name"]` / `['name']` for
keys containing dots or brackets. Examples: `status`, `checks.db.status`,
`$.items[0].ok`, `meta["build.version"]`.
"""

import re

# One step after the first: `.name`, `[N]` or `["name"]` / `['name']`.
_STEP = re.compile(r"""\.([^.\[\]"']+)|\[(-?\d+)\]|\["([^"]*)"\]|\['([^']*)'\]""")
_FIRST_NAME = re.compile(r"""[^.\[\]"'$][^.\[\]"']*""")
MAX_PATH_STEPS = 64


class PathError(ValueError):
    """The path text is not valid; the message says where."""


def parse(text):
    """The steps of a path: str keys and int indexes. Raises PathError."""
    path = text.strip()
    if not path:
        raise PathError("is empty")
    pos = 0
    steps = []
    if path.startswith("$"):
        pos = 1
    else:
        first = _FIRST_NAME.match(path)
        if first:
            steps.append(first.group(0))
            pos = first.end()
    while pos < len(path):
        m = _STEP.match(path, pos)
        if not m:
            raise PathError(f"unexpected {path[pos:pos + 10]!r} at character {pos + 1}")
        name, index, dq, sq = m.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(next(s for s in (name, dq, sq) if s is not None))
        pos = m.end()
        if len(steps) > MAX_PATH_STEPS:
            raise PathError(f"has more than {MAX_PATH_STEPS} steps")
    if not steps:
        raise PathError("names no field (the whole document is not a field)")
    return steps


_MISSING = object()


def lookup(document, steps):
    """The value at `steps`, or raise KeyError naming the first step that is not there."""
    value = document
    walked = "$"
    for step in steps:
        found = _MISSING
        if isinstance(step, int) and isinstance(value, list):
            if -len(value) <= step < len(value):
                found = value[step]
        elif isinstance(step, str) and isinstance(value, dict):
            found = value.get(step, _MISSING)
        walked += f"[{step}]" if isinstance(step, int) else f".{step}"
        if found is _MISSING:
            raise KeyError(f"{walked} is not in the response")
        value = found
    return value
