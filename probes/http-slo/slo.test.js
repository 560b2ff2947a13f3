// Unit tests of the probe's logic under plain Node: `npm test` (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ConfigError, Window, judge, parseParams, samples } from './slo.js';

const url = 'http://127.0.0.1:8080/health';

test('defaults', () => {
  const c = parseParams([['url', url]]);
  assert.equal(c.latency_slo_ms, 500);
  assert.equal(c.objective, 0.99);
  assert.equal(c.window, 100);
  assert.equal(c.method, 'GET');
  assert.equal(c.header, null);
});

test('bad params are named', () => {
  const cases = [
    [[], 'url is required'],
    [[['url', 'ftp://x/']], 'param url'],
    [[['url', url], ['latency_slo_ms', '0']], 'latency_slo_ms'],
    [[['url', url], ['latency_slo_ms', '1e3']], 'latency_slo_ms'],
    [[['url', url], ['objective', '1']], 'objective'],
    [[['url', url], ['objective', '99']], 'objective'],
    [[['url', url], ['window', '0']], 'window'],
    [[['url', url], ['window', '10001']], 'window'],
    [[['url', url], ['expect_status', '600']], 'expect_status'],
    [[['url', url], ['header', 'no colon']], 'header'],
    [[['url', url], ['header', 'content-type: (']], 'header'],
    [[['url', url], ['method', 'GE T']], 'method'],
    [[['url', url], ['colour', 'red']], 'colour'],
  ];
  for (const [params, needle] of cases) {
    assert.throws(() => parseParams(params), (e) => e instanceof ConfigError && e.message.includes(needle), needle);
  }
});

test('a run is good when status, latency and header all hold', () => {
  const c = parseParams([['url', url], ['latency_slo_ms', '100'], ['header', 'Content-Type: ^application/json']]);
  const ok = { status: 200, totalMs: 40, headers: [['content-type', 'application/json; charset=utf-8']] };
  assert.equal(judge(c, ok).good, true);
  const slow = judge(c, { ...ok, totalMs: 100.5 });
  assert.equal(slow.good, false);
  assert.match(slow.reasons.join(), /latency_slo_ms=100/);
  const html = judge(c, { ...ok, headers: [['Content-Type', 'text/html']] });
  assert.deepEqual([html.good, html.headerMatch], [false, false]);
  assert.match(judge(c, { ...ok, headers: [] }).reasons.join(), /no content-type header/);
  assert.equal(judge(c, { ...ok, status: 503 }).statusOk, false);
});

test('the window keeps the last runs, its ratio, budget and quantiles', () => {
  const w = new Window(4);
  for (const [good, ms] of [[false, null], [true, 10], [true, 20], [true, 30], [false, 400]]) w.push(good, ms);
  assert.equal(w.runs.length, 4);
  assert.equal(w.goodRatio(), 0.75);
  // 25% bad against a 50% budget: half of it is left.
  assert.equal(w.errorBudgetRemaining(0.5), 0.5);
  assert.ok(w.errorBudgetRemaining(0.99) < 0, 'overspent budgets go below 0');
  assert.deepEqual(w.quantiles(), [[0.5, 20], [0.95, 400], [0.99, 400]]);
  assert.deepEqual(new Window(3).quantiles(), []);
});

test('samples of a response and of a failure', () => {
  const c = parseParams([['url', url], ['header', 'x-ok: yes']]);
  const w = new Window(10);
  w.push(true, 250);
  const response = { status: 200, totalMs: 250, headers: [['x-ok', 'yes']] };
  const names = samples(c, w, { response, verdict: judge(c, response), good: true }).map((s) => s[0]);
  assert.deepEqual(names, [
    'sonde.http.slo.duration', 'sonde.http.slo.status_code', 'sonde.http.slo.header_match',
    'sonde.http.slo.good', 'sonde.http.slo.window_runs', 'sonde.http.slo.good_ratio',
    'sonde.http.slo.error_budget_remaining', 'sonde.http.slo.latency', 'sonde.http.slo.latency',
    'sonde.http.slo.latency',
  ]);
  w.push(false, null);
  const failed = samples(c, w, { response: null, errorKind: 'timeout', good: false });
  assert.deepEqual(failed[0], ['sonde.http.slo.error', 1, '1', [['kind', 'timeout']]]);
  assert.equal(failed.find((s) => s[0] === 'sonde.http.slo.good_ratio')[1], 0.5);
});
