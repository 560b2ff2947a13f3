"""json-health: fetch a JSON document over HTTP(S) and judge a field in it.

The component's entry points; the logic is in health.py (params and verdicts),
jsonpath.py (`field`) and condition.py (`expect`). Built with componentize-py by
`just build-probes`; docs/probes.md lists the samples.
"""

import health
import wit_world
from componentize_py_types import Err
from wit_world.imports import http, log, types

VERSION = "0.1.0"

_TRANSPORT_KINDS = {
    http.HttpError_Dns: "dns",
    http.HttpError_Connect: "connect",
    http.HttpError_Tls: "tls",
    http.HttpError_Timeout: "timeout",
    http.HttpError_TooLarge: "too_large",
    http.HttpError_Other: "other",
}

_PARAMS = [
    ("url", "The http:// or https:// URL of the JSON document.", True, None),
    ("field", "Path of the value to check: `status`, `checks.db.ok`, `$.items[0].state`.", False, None),
    ("expect", "Condition on the field: `ok`, `== true`, `!= \"down\"`, `< 500`, `~ ^2\\.`.", False, None),
    ("method", "HTTP method.", False, "GET"),
    ("timeout_ms", "Whole-request timeout in milliseconds.", False, str(health.DEFAULT_TIMEOUT_MS)),
    ("expect_status", "The status that means up; unset: any 2xx or 3xx.", False, None),
    ("max_body_bytes", "Largest document read; a longer one is reported as truncated.", False,
     str(health.DEFAULT_MAX_BODY_BYTES)),
]


def _sample(url, name, value, unit, labels):
    return types.Sample(name, value, unit, [("url", url)] + labels)


class WitWorld(wit_world.WitWorld):
    def describe(self):
        return types.ProbeInfo(
            name="json-health",
            version=VERSION,
            description="Checks a JSON endpoint: status, a field's value and a condition on it.",
            default_interval_ms=30_000,
            params=[types.ParamInfo(n, d, r, default) for n, d, r, default in _PARAMS],
        )

    def run(self, params):
        try:
            config = health.parse_params(params)
        except health.ConfigError as e:
            raise Err(types.ProbeError_BadConfig(str(e)))
        request = http.Request(
            method=config.method,
            url=config.url,
            headers=[("accept", "application/json")],
            body=None,
            timeout_ms=config.timeout_ms,
            max_body_bytes=config.max_body_bytes,
        )
        try:
            response = http.fetch(request)
        except Err as e:
            error = e.value
            if isinstance(error, http.HttpError_NotAllowed):
                # The job is misconfigured, not the target down.
                raise Err(types.ProbeError_BadConfig(f"url {config.url}: not allowed: {error.value}"))
            if isinstance(error, http.HttpError_InvalidUrl):
                raise Err(types.ProbeError_BadConfig(f"url {config.url}: invalid: {error.value}"))
            kind = _TRANSPORT_KINDS.get(type(error), "other")
            detail = getattr(error, "value", kind)
            log.log(log.Level.WARN, f"json-health {config.url}: no response ({kind}): {detail}")
            return [_sample(config.url, *s) for s in health.unreachable_samples(kind)]
        outcome = health.evaluate(config, response.status, response.body, response.truncated)
        if not outcome.up:
            log.log(log.Level.WARN, f"json-health {config.url}: down: {outcome.reason}")
        total_s = response.timings.total_ms / 1000.0
        return [_sample(config.url, *s) for s in health.samples(config, response.status, outcome, total_s)]
