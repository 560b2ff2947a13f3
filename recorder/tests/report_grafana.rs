//! The Grafana dashboard in `contrib/grafana/` and the queries in docs/report.md are the
//! report's own queries: every panel's SQL is one of them in Grafana's macro form, and runs
//! against a database holding a generated fleet. `SONDE_BLESS=1` rewrites the dashboard
//! from the queries (layout included) after a query changes.

mod common;

use std::path::PathBuf;

use chrono::Utc;
use common::fleet::{self, Fleet};
use serde_json::{json, Value};
use sonde_recorder::report::queries::{self, Query, Shape};
use sonde_tests::{create_test_database, pg_connect, workspace_root, Env};

const DATASOURCE: &str = "grafana-postgresql-datasource";
const HOST_VARIABLE: &str = "SELECT DISTINCT host FROM series ORDER BY 1";

fn dashboard_path() -> PathBuf {
    workspace_root().join("contrib/grafana/sonde-report.json")
}

/// The queries a panel shows: all but the report's own bookkeeping.
fn panel_queries() -> Vec<Query> {
    queries::all()
        .into_iter()
        .filter(|q| q.name != "run_span")
        .collect()
}

/// `$1..$4` as Grafana's PostgreSQL macros and the `host` variable.
fn grafana_sql(q: &Query) -> String {
    q.sql
        .replace("$1", "$__timeFrom()")
        .replace("$2", "$__timeTo()")
        .replace("$3", "${host:sqlstring}")
        .replace("$4", "$__interval_ms / 1000.0")
}

/// What Grafana would send for a window, a host and a 60 s interval.
fn expand_macros(sql: &str, from: &str, to: &str, host: &str) -> String {
    sql.replace("$__timeFrom()", &format!("'{from}'"))
        .replace("$__timeTo()", &format!("'{to}'"))
        .replace("${host:sqlstring}", &format!("'{host}'"))
        .replace("$__interval_ms", "60000")
}

fn unit_of(q: &Query) -> &'static str {
    match q.name {
        "cpu" => "percent",
        "memory" => "bytes",
        "network" | "network_threshold" => "Bps",
        "http_latency" => "ms",
        "http_up" | "http_regex" => "percentunit",
        _ => "short",
    }
}

fn dashboard() -> Value {
    let ds = json!({"type": DATASOURCE, "uid": "${DS_SONDE}"});
    let panels: Vec<Value> = panel_queries()
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let table = q.shape == Shape::Table;
            let (w, h) = if table { (24, 9) } else { (12, 8) };
            let y = if table {
                40 + (i as i64 - 8) * 9
            } else {
                (i as i64 / 2) * 8
            };
            let x = if table || i % 2 == 0 { 0 } else { 12 };
            json!({
                "id": i + 1,
                "type": if table { "table" } else { "timeseries" },
                "title": q.title,
                "datasource": ds,
                "gridPos": {"x": x, "y": y, "w": w, "h": h},
                "fieldConfig": {"defaults": {"unit": unit_of(q)}, "overrides": []},
                "options": {},
                "targets": [{
                    "refId": "A",
                    "datasource": ds,
                    "editorMode": "code",
                    "format": if table { "table" } else { "time_series" },
                    "rawQuery": true,
                    "rawSql": grafana_sql(q),
                }],
            })
        })
        .collect();
    json!({
        "__inputs": [{"name": "DS_SONDE", "label": "Sonde PostgreSQL", "type": "datasource",
                      "pluginId": DATASOURCE, "pluginName": "PostgreSQL"}],
        "title": "Sonde",
        "uid": "sonde-report",
        "description": "The panels of `recorder report`, on the recorder's PostgreSQL tables.",
        "editable": true,
        "schemaVersion": 39,
        "version": 1,
        "timezone": "utc",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{
            "name": "host", "label": "host", "type": "query", "datasource": ds,
            "query": HOST_VARIABLE, "definition": HOST_VARIABLE, "refresh": 2,
            "includeAll": false, "multi": false, "sort": 1,
        }]},
        "panels": panels,
    })
}

/// Every `rawSql` in the dashboard, with its panel title.
fn panel_sql(dashboard: &Value) -> Vec<(String, String)> {
    let panels = dashboard["panels"].as_array().expect("panels array");
    panels
        .iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or("?").to_owned();
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |t| (title.clone(), t["rawSql"].as_str().unwrap_or("").to_owned()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_runs_a_report_query_against_the_database() {
    let path = dashboard_path();
    if std::env::var_os("SONDE_BLESS").is_some() {
        let text = serde_json::to_string_pretty(&dashboard()).expect("JSON") + "\n";
        std::fs::write(&path, text).expect("write the dashboard");
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let parsed: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));

    let panels = panel_sql(&parsed);
    let known: Vec<String> = panel_queries().iter().map(grafana_sql).collect();
    for (title, sql) in &panels {
        assert!(
            known.contains(sql),
            "panel {title:?} runs SQL that is not a report query:\n{sql}"
        );
    }
    for (q, sql) in panel_queries().iter().zip(&known) {
        assert!(
            panels.iter().any(|(_, s)| s == sql),
            "no panel shows query {}",
            q.name
        );
    }

    let env = Env::load();
    let database = create_test_database(&env).await;
    let spec = Fleet {
        hosts: 2,
        span_secs: 2 * 3600,
        step_secs: 60,
        end: Utc::now(),
    };
    fleet::write(&env, &database, spec).await;
    let db = pg_connect(&env, &database).await.expect("connect");
    let from = (Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    let to = Utc::now().to_rfc3339();
    let host = fleet::host_name(0);
    let variable = parsed["templating"]["list"][0]["query"]
        .as_str()
        .expect("host variable query");
    let hosts = db
        .query(variable, &[])
        .await
        .expect("host variable query runs");
    assert_eq!(hosts.len(), spec.hosts);
    for (title, sql) in &panels {
        let rows = db
            .query(expand_macros(sql, &from, &to, &host).as_str(), &[])
            .await
            .unwrap_or_else(|e| panic!("panel {title:?}: {e}\n{sql}"));
        assert!(
            !rows.is_empty(),
            "panel {title:?} returned no rows for {host}"
        );
        assert_eq!(rows[0].columns()[0].name(), "time", "panel {title:?}");
    }
}

#[test]
fn docs_list_every_query_as_it_is() {
    let path = workspace_root().join("docs/report.md");
    let docs = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for q in queries::all() {
        assert!(
            docs.contains(&q.sql),
            "docs/report.md lacks the current `{}` query; it is:\n{}",
            q.name,
            q.sql
        );
    }
}
