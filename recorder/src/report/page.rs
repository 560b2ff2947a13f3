//! The HTML page: header, an overview table, per-host and per-check charts, and the tables
//! of failed runs and dead letters. One self-contained file: inline CSS and SVG, no script,
//! and a Content-Security-Policy that forbids every fetch.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::chart::{self, esc, LineChart};
use super::data::{CheckCharts, HostCharts, Report};
use super::scale::{self, Unit};

const STYLE: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1600px;padding:0 16px 40px;color:#222}
h1{margin:16px 0 4px}h2{border-bottom:2px solid #ddd;margin-top:32px}h3{margin:20px 0 6px}
h3 small{font-weight:normal;color:#666}
.meta{color:#555;margin:0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:12px}
figure{margin:0;border:1px solid #e3e3e3;border-radius:6px;padding:6px 8px}
figcaption{font-weight:600;margin-bottom:2px}
svg{width:100%;height:auto;display:block}
svg text{font:11px system-ui,sans-serif;fill:#444;stroke:none}
svg .caption{fill:#666}
svg .grid{stroke:#e6e6e6;stroke-width:1}
svg .lane{fill:#f2f2f2}
svg .event{stroke:#c00;stroke-width:1.5;stroke-dasharray:2 2}
.legend{list-style:none;padding:0;margin:2px 0 0;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px}
.swatch{display:inline-block;width:18px;height:0;border-top:3px solid;margin-right:5px;vertical-align:middle}
.swatch.dashed{border-top-style:dashed}.swatch.event{border-top:2px dashed #c00}
.empty{color:#888;margin:4px 0}
table{border-collapse:collapse;margin:6px 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f6f6}td.num{text-align:right}
td.text{max-width:70ch;word-break:break-all}
";

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn epoch_utc(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .map(utc)
        .unwrap_or_default()
}

fn bucket_text(secs: i64) -> String {
    match secs {
        s if s % 86400 == 0 => format!("{} d", s / 86400),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// The whole page for `report`.
pub fn render(report: &Report) -> String {
    let w = report.window;
    let scope = match &report.host_filter {
        Some(h) => format!("host {}", esc(h)),
        None => "all hosts".to_owned(),
    };
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sonde report, {from}</title><style>{STYLE}</style></head><body>
<header><h1>Sonde report</h1>
<p class="meta">{scope} · charts {from} to {to}, one point per {bucket} (averages; latency as p50/p95 per bucket) · tables since {since} · <strong>all times UTC</strong> · generated {generated} · {runs} runs</p></header>
"#,
        from = epoch_utc(w.from),
        to = epoch_utc(w.to),
        since = epoch_utc(report.since),
        bucket = bucket_text(w.bucket_secs),
        generated = utc(report.generated_at),
        runs = report.runs,
    );
    overview(&mut out, report);
    let _ = write!(
        out,
        r#"<section id="hosts"><h2>Hosts ({})</h2>"#,
        report.hosts.len()
    );
    if report.hosts.is_empty() {
        out.push_str(r#"<p class="empty">no host metrics in this window</p>"#);
    }
    for host in &report.hosts {
        host_section(&mut out, report, host);
    }
    let _ = write!(
        out,
        r#"</section><section id="checks"><h2>HTTP checks ({})</h2>"#,
        report.checks.len()
    );
    if report.checks.is_empty() {
        out.push_str(r#"<p class="empty">no HTTP checks in this window</p>"#);
    }
    for check in &report.checks {
        check_section(&mut out, report, check);
    }
    out.push_str("</section>");
    failed_runs(&mut out, report);
    dead_letters(&mut out, report);
    out.push_str("</body></html>\n");
    out
}

/// Per bucket, the sum of the non-idle CPU states: (mean, peak) in percent.
fn cpu_busy(host: &HostCharts) -> Option<(f64, f64)> {
    let mut per_bucket: BTreeMap<i64, f64> = BTreeMap::new();
    for line in host.cpu.iter().filter(|l| l.label != "idle") {
        for (t, v) in &line.points {
            *per_bucket.entry(*t).or_default() += v;
        }
    }
    let n = per_bucket.len();
    (n > 0).then(|| {
        let sum: f64 = per_bucket.values().sum();
        (
            sum / n as f64,
            per_bucket.values().copied().fold(0.0, f64::max),
        )
    })
}

fn overview(out: &mut String, report: &Report) {
    out.push_str(r#"<section id="overview"><h2>Overview</h2><div class="grid"><div>"#);
    out.push_str("<table><tr><th>host</th><th>CPU busy, mean</th><th>CPU busy, peak</th><th>memory used, last</th><th>threshold events</th></tr>");
    for host in &report.hosts {
        let (mean, peak) = match cpu_busy(host) {
            Some((m, p)) => (
                scale::format_value(m, Unit::Percent),
                scale::format_value(p, Unit::Percent),
            ),
            None => ("—".into(), "—".into()),
        };
        let used = host
            .memory
            .iter()
            .find(|l| l.label == "used")
            .and_then(|l| l.points.last())
            .map(|p| scale::format_value(p.1, Unit::Bytes))
            .unwrap_or_else(|| "—".into());
        let _ = write!(
            out,
            r##"<tr><td><a href="#host-{id}">{host}</a></td><td class="num">{mean}</td><td class="num">{peak}</td><td class="num">{used}</td><td class="num">{events}</td></tr>"##,
            id = anchor(&host.host),
            host = esc(&host.host),
            events = host.threshold_events.len(),
        );
    }
    out.push_str("</table></div><div>");
    out.push_str("<table><tr><th>HTTP check</th><th>from host</th><th>up</th><th>worst p95 total</th><th>status codes</th></tr>");
    for check in &report.checks {
        let up = if check.up.is_empty() {
            "—".to_owned()
        } else {
            let mean = check.up.iter().map(|c| c.1).sum::<f64>() / check.up.len() as f64;
            scale::format_value(mean * 100.0, Unit::Percent)
        };
        let p95 = check
            .latency
            .iter()
            .find(|l| l.dashed && l.label.starts_with("total "))
            .map(|l| l.points.iter().map(|p| p.1).fold(0.0, f64::max))
            .map(|v| scale::format_value(v, Unit::Milliseconds))
            .unwrap_or_else(|| "—".into());
        let codes: Vec<&str> = check.status.iter().map(|l| l.label.as_str()).collect();
        let _ = write!(
            out,
            r##"<tr><td class="text"><a href="#check-{id}">{url}</a></td><td>{host}</td><td class="num">{up}</td><td class="num">{p95}</td><td>{codes}</td></tr>"##,
            id = anchor(&format!("{} {}", check.host, check.url)),
            url = esc(&check.url),
            host = esc(&check.host),
            codes = esc(&codes.join(", ")),
        );
    }
    let _ = write!(
        out,
        r##"</table></div></div><p><a href="#failed-runs">{} failed runs</a> · <a href="#dead-letters">{} dead letters</a> in this window</p></section>"##,
        report.failed_runs_total, report.dead_letters_total
    );
}

/// An id attribute value: the text's bytes in hex, so any host or URL gives a valid, unique id.
fn anchor(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn host_section(out: &mut String, report: &Report, host: &HostCharts) {
    let w = report.window;
    let h = &host.host;
    let _ = write!(
        out,
        r#"<section class="host" id="host-{}"><h3>{}</h3><div class="grid">"#,
        anchor(h),
        esc(h)
    );
    let cpu = LineChart {
        id: &format!("cpu:{h}"),
        title: "CPU utilisation by state (machine total)",
        unit: Unit::Percent,
        y_max: Some(100.0),
    };
    out.push_str(&chart::line_chart(&cpu, w, &host.cpu, &[]));
    let memory = LineChart {
        id: &format!("memory:{h}"),
        title: "Memory used and available",
        unit: Unit::Bytes,
        y_max: None,
    };
    out.push_str(&chart::line_chart(&memory, w, &host.memory, &[]));
    let network = LineChart {
        id: &format!("network:{h}"),
        title: "Bandwidth per interface (red marks: threshold exceeded)",
        unit: Unit::BytesPerSecond,
        y_max: None,
    };
    out.push_str(&chart::line_chart(
        &network,
        w,
        &host.network,
        &host.threshold_events,
    ));
    out.push_str("</div></section>");
}

fn check_section(out: &mut String, report: &Report, check: &CheckCharts) {
    let w = report.window;
    let key = format!("{} {}", check.host, check.url);
    let _ = write!(
        out,
        r#"<section class="check" id="check-{}"><h3>{} <small>from {}</small></h3><div class="grid">"#,
        anchor(&key),
        esc(&check.url),
        esc(&check.host)
    );
    let up = [super::data::Lane {
        label: "up".into(),
        cells: check.up.clone(),
    }];
    out.push_str(&chart::lane_chart(
        &format!("http-up:{key}"),
        "Up / down (green: all runs up, red: none, amber: some)",
        w,
        &up,
        chart::good_bad_style,
    ));
    out.push_str(&chart::lane_chart(
        &format!("http-status:{key}"),
        "Status codes (a block where any run returned the code)",
        w,
        &check.status,
        chart::status_code_style,
    ));
    let latency = LineChart {
        id: &format!("http-latency:{key}"),
        title: "Latency by phase (solid p50, dashed p95)",
        unit: Unit::Milliseconds,
        y_max: None,
    };
    out.push_str(&chart::line_chart(&latency, w, &check.latency, &[]));
    if check.regex.is_empty() {
        out.push_str(r#"<figure class="chart"><figcaption>Body regex</figcaption><p class="empty">this check has no regex</p></figure>"#);
    } else {
        out.push_str(&chart::lane_chart(
            &format!("http-regex:{key}"),
            "Body regex match (green: all runs matched, red: none)",
            w,
            &check.regex,
            chart::good_bad_style,
        ));
    }
    out.push_str("</div></section>");
}

fn table_note(out: &mut String, shown: usize, total: i64) {
    if total as usize > shown {
        let _ = write!(
            out,
            "<p>{total} in this window; the newest {shown} shown.</p>"
        );
    } else {
        let _ = write!(out, "<p>{total} in this window.</p>");
    }
}

fn failed_runs(out: &mut String, report: &Report) {
    out.push_str(r#"<section id="failed-runs"><h2>Failed runs</h2>"#);
    table_note(out, report.failed_runs.len(), report.failed_runs_total);
    if !report.failed_runs.is_empty() {
        out.push_str(r#"<table data-table="failed-runs"><tr><th>started (UTC)</th><th>host</th><th>probe</th><th>job</th><th>error</th></tr>"#);
        for r in &report.failed_runs {
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="text">{}</td></tr>"#,
                utc(r.time),
                esc(&r.host),
                esc(&r.probe),
                esc(&r.job),
                esc(&r.error)
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</section>");
}

fn dead_letters(out: &mut String, report: &Report) {
    out.push_str(r#"<section id="dead-letters"><h2>Dead letters</h2>"#);
    table_note(out, report.dead_letters.len(), report.dead_letters_total);
    if !report.dead_letters.is_empty() {
        out.push_str(r#"<table data-table="dead-letters"><tr><th>received (UTC)</th><th>topic</th><th>partition</th><th>offset</th><th>reason</th><th>payload (first 200 bytes)</th></tr>"#);
        for d in &report.dead_letters {
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="text">{}</td><td class="text"><code>{}</code></td></tr>"#,
                utc(d.time),
                esc(&d.topic),
                d.partition,
                d.offset,
                esc(&d.reason),
                esc(&d.payload_start)
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</section>");
}
