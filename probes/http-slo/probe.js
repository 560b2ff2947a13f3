// http-slo: a latency and availability objective for one URL, over a rolling window of
// runs kept in the instance. The component's entry points; the logic is in slo.js.
// Built with componentize-js by `just build-probes`; docs/probes.md lists the samples.

import { fetch } from 'sonde:probe/http@0.2.0';
import { log } from 'sonde:probe/log@0.2.0';
import { ConfigError, DEFAULTS, Window, judge, parseParams, samples } from './slo.js';

const VERSION = '0.1.0';
// A refusal by the job's allow-list or an unparsable URL is the job's mistake, not the target's.
const CONFIG_ERRORS = new Map([['not-allowed', 'not allowed'], ['invalid-url', 'invalid']]);

// The window survives between runs of this job; a change of params starts a new one.
let history = null;
let historyKey = '';

function param(name, description, required, defaultValue) {
  return { name, description, required, default: defaultValue === undefined ? undefined : String(defaultValue) };
}

export function describe() {
  return {
    name: 'http-slo',
    version: VERSION,
    description: 'Latency and availability objective of a URL over a rolling window of runs; optional response-header rule.',
    defaultIntervalMs: 30000,
    params: [
      param('url', 'The http:// or https:// URL to measure.', true),
      param('latency_slo_ms', 'A request slower than this (whole response) is not good.', false, DEFAULTS.latency_slo_ms),
      param('objective', 'Target fraction of good requests; the error budget is 1 - objective.', false, DEFAULTS.objective),
      param('window', 'Number of runs the ratios and quantiles cover.', false, DEFAULTS.window),
      param('expect_status', 'The status that is good; unset: any 2xx or 3xx.', false),
      param('header', 'A response header that must match: `Name: regex`, e.g. `content-type: ^application/json`.', false),
      param('method', 'HTTP method.', false, DEFAULTS.method),
      param('timeout_ms', 'Whole-request timeout in milliseconds.', false, DEFAULTS.timeout_ms),
      param('max_body_bytes', 'Read at most this much of the body (its time counts).', false, DEFAULTS.max_body_bytes),
    ],
  };
}

function withUrl(url, [name, value, unit, labels]) {
  return { name, value, unit, labels: [['url', url], ...labels] };
}

export function run(params) {
  let config;
  try {
    config = parseParams(params);
  } catch (e) {
    if (e instanceof ConfigError) throw { tag: 'bad-config', val: e.message };
    throw e;
  }
  const key = JSON.stringify(params);
  if (history === null || key !== historyKey) {
    history = new Window(config.window);
    historyKey = key;
  }
  let result;
  try {
    const response = fetch({
      method: config.method,
      url: config.url,
      headers: [],
      body: undefined,
      timeoutMs: config.timeout_ms,
      maxBodyBytes: config.max_body_bytes,
    });
    const measured = { status: response.status, headers: response.headers, totalMs: response.timings.totalMs };
    const verdict = judge(config, measured);
    result = { response: measured, verdict, good: verdict.good };
    if (!verdict.good) log('warn', `http-slo ${config.url}: not good: ${verdict.reasons.join('; ')}`);
    history.push(verdict.good, measured.totalMs);
  } catch (e) {
    // A failed fetch throws its http-error variant (with `payload` when wrapped).
    const error = e && Object.hasOwn(e, 'payload') ? e.payload : e;
    if (!error || typeof error.tag !== 'string') throw e;
    if (CONFIG_ERRORS.has(error.tag)) {
      throw { tag: 'bad-config', val: `url ${config.url}: ${CONFIG_ERRORS.get(error.tag)}: ${error.val}` };
    }
    const kind = error.tag.replace('-', '_');
    log('warn', `http-slo ${config.url}: no response (${kind})${error.val === undefined ? '' : `: ${error.val}`}`);
    result = { response: null, errorKind: kind, good: false };
    history.push(false, null);
  }
  return samples(config, history, result).map((s) => withUrl(config.url, s));
}
