// What http-slo does with its params, a response and the runs before it. Free of the
// host's imports, so it runs (and is unit-tested) under plain Node.

export const DEFAULTS = {
  method: 'GET',
  latency_slo_ms: 500,
  objective: 0.99,
  window: 100,
  timeout_ms: 5000,
  max_body_bytes: 1024 * 1024,
};
export const PARAMS = [
  'url', 'latency_slo_ms', 'objective', 'window', 'expect_status', 'header',
  'method', 'timeout_ms', 'max_body_bytes',
];
export const MAX_WINDOW = 10000;
export const QUANTILES = [0.5, 0.95, 0.99];

export class ConfigError extends Error {}

function integer(name, text, low, high, what) {
  const t = text.trim();
  const n = /^\d+$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(n) || n < low || n > high) {
    throw new ConfigError(`param ${name}: ${JSON.stringify(text)} is not ${what}`);
  }
  return n;
}

// `Name: regex` -> { name (lower case), regex }.
function headerRule(text) {
  const colon = text.indexOf(':');
  const name = (colon < 0 ? '' : text.slice(0, colon)).trim().toLowerCase();
  if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) {
    throw new ConfigError(`param header: ${JSON.stringify(text)} is not \`Name: regex\``);
  }
  const pattern = text.slice(colon + 1).trim();
  try {
    return { name, regex: new RegExp(pattern) };
  } catch (e) {
    throw new ConfigError(`param header: ${JSON.stringify(pattern)} is not a regular expression: ${e.message}`);
  }
}

export function parseParams(params) {
  const values = new Map();
  for (const [name, value] of params) {
    if (!PARAMS.includes(name)) {
      throw new ConfigError(`unknown param ${JSON.stringify(name)} (http-slo takes: ${PARAMS.join(', ')})`);
    }
    values.set(name, value);
  }
  const url = (values.get('url') ?? '').trim();
  if (!url) throw new ConfigError('param url is required (the address to measure)');
  if (!/^https?:\/\//i.test(url)) {
    throw new ConfigError(`param url: ${JSON.stringify(url)} is not an http:// or https:// URL`);
  }
  const config = { ...DEFAULTS, url, expect_status: null, header: null };
  if (values.has('latency_slo_ms')) {
    config.latency_slo_ms = integer('latency_slo_ms', values.get('latency_slo_ms'), 1, 2 ** 32 - 1, 'a positive integer');
  }
  if (values.has('objective')) {
    const text = values.get('objective').trim();
    const o = /^(0(\.\d+)?|1(\.0*)?)$/.test(text) ? Number(text) : NaN;
    if (!(o > 0 && o < 1)) {
      throw new ConfigError(`param objective: ${JSON.stringify(text)} is not a fraction between 0 and 1 (0.99 for 99%)`);
    }
    config.objective = o;
  }
  if (values.has('window')) {
    config.window = integer('window', values.get('window'), 1, MAX_WINDOW, `a number of runs (1-${MAX_WINDOW})`);
  }
  if (values.has('expect_status')) {
    config.expect_status = integer('expect_status', values.get('expect_status'), 100, 599, 'an HTTP status (100-599)');
  }
  if (values.has('header')) config.header = headerRule(values.get('header'));
  if (values.has('method')) {
    const m = values.get('method').trim().toUpperCase();
    if (!/^[A-Z]+$/.test(m)) throw new ConfigError(`param method: ${JSON.stringify(values.get('method'))} is not an HTTP method`);
    config.method = m;
  }
  if (values.has('timeout_ms')) {
    config.timeout_ms = integer('timeout_ms', values.get('timeout_ms'), 1, 2 ** 32 - 1, 'a positive integer');
  }
  if (values.has('max_body_bytes')) {
    config.max_body_bytes = integer('max_body_bytes', values.get('max_body_bytes'), 0, 2 ** 32 - 1, 'a byte count (0-4294967295)');
  }
  return config;
}

// The rolling window of the last `size` runs: whether each was good, and the latency of
// those that got a response. Lives in the instance between runs.
export class Window {
  constructor(size) {
    this.size = size;
    this.runs = [];
  }

  push(good, latencyMs) {
    this.runs.push({ good, latencyMs });
    if (this.runs.length > this.size) this.runs.splice(0, this.runs.length - this.size);
  }

  goodRatio() {
    return this.runs.filter((r) => r.good).length / this.runs.length;
  }

  // 1 when no bad run used the budget, 0 when exactly spent, below 0 when overspent.
  errorBudgetRemaining(objective) {
    return 1 - (1 - this.goodRatio()) / (1 - objective);
  }

  // Nearest-rank quantiles of the latencies in the window; empty with no responses.
  quantiles() {
    const sorted = this.runs.filter((r) => r.latencyMs !== null).map((r) => r.latencyMs).sort((a, b) => a - b);
    if (sorted.length === 0) return [];
    return QUANTILES.map((q) => [q, sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]]);
  }
}

// Judge one response: { good, statusOk, headerMatch (null without `header`), reasons }.
export function judge(config, response) {
  const reasons = [];
  const statusOk = config.expect_status === null
    ? response.status >= 200 && response.status < 400
    : response.status === config.expect_status;
  if (!statusOk) reasons.push(`status ${response.status}`);
  const latencyOk = response.totalMs <= config.latency_slo_ms;
  if (!latencyOk) reasons.push(`${response.totalMs.toFixed(1)} ms > latency_slo_ms=${config.latency_slo_ms}`);
  let headerMatch = null;
  if (config.header) {
    const values = response.headers.filter(([k]) => k.toLowerCase() === config.header.name).map(([, v]) => v);
    headerMatch = values.some((v) => config.header.regex.test(v));
    if (!headerMatch) {
      reasons.push(values.length === 0
        ? `no ${config.header.name} header`
        : `${config.header.name}: ${JSON.stringify(values[0].slice(0, 200))} does not match ${config.header.regex}`);
    }
  }
  return { good: statusOk && latencyOk && headerMatch !== false, statusOk, headerMatch, reasons };
}

// The samples of one run, without the `url` label: [name, value, unit, labels].
export function samples(config, window, run) {
  const out = [];
  if (run.response) {
    out.push(['sonde.http.slo.duration', run.response.totalMs / 1000, 's', []]);
    out.push(['sonde.http.slo.status_code', run.response.status, '1', []]);
    if (run.verdict.headerMatch !== null) {
      out.push(['sonde.http.slo.header_match', run.verdict.headerMatch ? 1 : 0, '1', [['header', config.header.name]]]);
    }
  } else {
    out.push(['sonde.http.slo.error', 1, '1', [['kind', run.errorKind]]]);
  }
  out.push(['sonde.http.slo.good', run.good ? 1 : 0, '1', []]);
  out.push(['sonde.http.slo.window_runs', window.runs.length, '1', []]);
  out.push(['sonde.http.slo.good_ratio', window.goodRatio(), '1', []]);
  out.push(['sonde.http.slo.error_budget_remaining', window.errorBudgetRemaining(config.objective), '1',
    [['objective', String(config.objective)]]]);
  for (const [q, ms] of window.quantiles()) {
    out.push(['sonde.http.slo.latency', ms / 1000, 's', [['quantile', String(q)]]]);
  }
  return out;
}
