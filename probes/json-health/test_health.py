"""Unit tests of the probe's logic under the machine's Python: `python3 -m unittest` here."""

import unittest

import condition
import health
import jsonpath

URL = "http://127.0.0.1:8080/health"


def config(**params):
    return health.parse_params([("url", URL)] + [(k, str(v)) for k, v in params.items()])


class PathTest(unittest.TestCase):
    def test_syntax(self):
        self.assertEqual(jsonpath.parse("status"), ["status"])
        self.assertEqual(jsonpath.parse("$.checks.db[0].ok"), ["checks", "db", 0, "ok"])
        self.assertEqual(jsonpath.parse("meta[\"build.version\"]"), ["meta", "build.version"])
        self.assertEqual(jsonpath.parse("$['a b'][-1]"), ["a b", -1])
        for bad in ("", "$", "a..b", "a[x]", "a[\"b]", "."):
            with self.assertRaises(jsonpath.PathError, msg=bad):
                jsonpath.parse(bad)

    def test_lookup(self):
        doc = {"checks": {"db": [{"ok": True}, {"ok": False}]}, "n": 3}
        self.assertIs(jsonpath.lookup(doc, jsonpath.parse("checks.db[-1].ok")), False)
        with self.assertRaisesRegex(KeyError, r"\$\.checks\.db\[2\] is not in the response"):
            jsonpath.lookup(doc, jsonpath.parse("checks.db[2].ok"))
        with self.assertRaises(KeyError):
            jsonpath.lookup(doc, jsonpath.parse("n.x"))


class ConditionTest(unittest.TestCase):
    def check(self, expect, actual):
        return condition.Condition(expect).holds(actual)[0]

    def test_equality_reads_json_else_text(self):
        self.assertTrue(self.check("ok", "ok"))
        self.assertTrue(self.check('== "ok"', "ok"))
        self.assertTrue(self.check("true", True))
        self.assertFalse(self.check("true", 1))
        self.assertTrue(self.check("200", "200"))
        self.assertTrue(self.check("200", 200.0))
        self.assertTrue(self.check("!= down", "up"))
        self.assertTrue(self.check("null", None))

    def test_ordering_and_regex(self):
        self.assertTrue(self.check("< 500", 499.5))
        self.assertFalse(self.check(">= 1", 0))
        self.assertTrue(self.check("> 2", "3"), "numeric strings compare as numbers")
        self.assertFalse(self.check("> 2", "many"))
        self.assertFalse(self.check("> 2", True))
        self.assertTrue(self.check("~ ^2\\.", "2.14.1"))

    def test_bad_conditions(self):
        for bad in ("< ok", ">=", "~ (", "> NaN"):
            with self.assertRaises(condition.ConditionError, msg=bad):
                condition.Condition(bad)


class ParamsTest(unittest.TestCase):
    def test_defaults(self):
        c = config()
        self.assertEqual((c.method, c.timeout_ms, c.max_body_bytes), ("GET", 5000, 1 << 20))
        self.assertTrue(c.status_is_up(204) and c.status_is_up(302))
        self.assertFalse(c.status_is_up(404))

    def test_bad_params_are_named(self):
        cases = [
            ([], "url is required"),
            ([("url", "ftp://x/")], "param url"),
            ([("url", URL), ("field", "a..b")], "param field"),
            ([("url", URL), ("expect", "ok")], "needs param field"),
            ([("url", URL), ("field", "a"), ("expect", "< x")], "param expect"),
            ([("url", URL), ("timeout_ms", "0")], "timeout_ms"),
            ([("url", URL), ("expect_status", "99")], "expect_status"),
            ([("url", URL), ("max_body_bytes", "1e9")], "max_body_bytes"),
            ([("url", URL), ("method", "GE T")], "method"),
            ([("url", URL), ("colour", "red")], "colour"),
        ]
        for params, needle in cases:
            with self.assertRaises(health.ConfigError, msg=needle) as caught:
                health.parse_params(params)
            self.assertIn(needle, str(caught.exception))


class EvaluateTest(unittest.TestCase):
    def test_up_needs_status_field_and_condition(self):
        body = b'{"status": "ok", "queue": {"depth": 12}}'
        self.assertTrue(health.evaluate(config(), 200, body, False).up)
        o = health.evaluate(config(field="queue.depth", expect="< 100"), 200, body, False)
        self.assertEqual((o.up, o.value, o.condition), (True, 12.0, True))
        o = health.evaluate(config(field="queue.depth", expect="< 10"), 200, body, False)
        self.assertEqual((o.up, o.condition), (False, False))
        self.assertIn("12 < 10 is false", o.reason)
        o = health.evaluate(config(field="status", expect="ok"), 503, body, False)
        self.assertEqual((o.up, o.condition), (False, True))
        self.assertIn("status 503", o.reason)

    def test_bodies_that_are_not_usable(self):
        cases = [
            (b"<html>", False, "invalid_json"),
            (b"\xff\xfe\x00", False, "invalid_json"),
            ('{"status": "ok"}'.encode("utf-16"), False, "invalid_json"),
            (b"[" * 100_000, False, "invalid_json"),
            (b"9" * 10_000, False, "invalid_json"),
            (b'{"status": "o', True, "truncated"),
            (b'{"other": 1}', False, "field_missing"),
        ]
        for body, truncated, kind in cases:
            o = health.evaluate(config(field="status"), 200, body, truncated)
            self.assertEqual((o.up, o.error), (False, kind), body[:20])

    def test_nesting_is_bounded_outside_strings(self):
        deep = b"[" * 65 + b"]" * 65
        self.assertTrue(health.too_deep(deep))
        self.assertFalse(health.too_deep(b"[" * 64 + b"]" * 64))
        self.assertFalse(health.too_deep(b'["' + b"[" * 100 + b'\\"[[["]'))
        o = health.evaluate(config(), 200, b'{"a": ' * 70 + b"1" + b"}" * 70, False)
        self.assertEqual((o.error, o.reason), ("invalid_json", "body nests deeper than 64 levels"))
        self.assertTrue(health.evaluate(config(), 200, b"[" * 64 + b"]" * 64, False).up)

    def test_samples(self):
        c = config(field="queue.depth", expect="< 100")
        o = health.evaluate(c, 200, b'{"queue": {"depth": 12}}', False)
        got = {name: (value, labels) for name, value, _, labels in health.samples(c, 200, o, 0.25)}
        self.assertEqual(got["sonde.http.json.up"], (1.0, []))
        self.assertEqual(got["sonde.http.json.duration"], (0.25, []))
        self.assertEqual(got["sonde.http.json.value"], (12.0, [("field", "queue.depth")]))
        self.assertEqual(got["sonde.http.json.condition"], (1.0, [("field", "queue.depth")]))
        self.assertNotIn("sonde.http.json.error", got)


if __name__ == "__main__":
    unittest.main()
