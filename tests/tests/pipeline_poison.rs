//! Drill: 1,000 malformed messages are produced into the topic in bursts while the host
//! publishes good runs. Every malformed one lands in `dead_letter` verbatim, every good run
//! in `probe_run`/`measurement` exactly once.

mod pipeline;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use pipeline::ledger::{published, wait_for_published, wait_for_stored};
use pipeline::{assert_exactly_once, cpu_and_memory_jobs, Expect, Pipeline, Scale};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};
use sonde_message::{RunMessage, Sample};
use sonde_tests::{kafka_client_config, Env};

const MALFORMED: usize = 1_000;

/// Message `i` of the malformed set: one of nine ways to break the wire format, each
/// payload unique (its own run_id or number) so `dead_letter` can be matched exactly.
fn malformed(i: usize) -> (String, Vec<u8>) {
    let mut run = RunMessage::new("drill-bad", "cpu", "0.1.0", &format!("bad-{i}"), Utc::now());
    run.samples.push(Sample {
        name: "system.cpu.utilization".into(),
        value: 0.5,
        unit: "1".into(),
        labels: Default::default(),
    });
    let key = run.key();
    let good = run.encode();
    let mut v: Value = serde_json::from_slice(&good).expect("a RunMessage encodes to JSON");
    let payload = match i % 9 {
        0 => format!("this is not JSON #{i}").into_bytes(),
        1 => good[..good.len() / 2].to_vec(),
        2 => {
            v["v"] = json!(2);
            v.to_string().into_bytes()
        }
        3 => {
            v.as_object_mut().map(|o| o.remove("run_id"));
            v["job"] = json!(format!("no-run-id-{i}"));
            v.to_string().into_bytes()
        }
        4 => {
            v["unexpected"] = json!(i);
            v.to_string().into_bytes()
        }
        5 => {
            v["host"] = json!("");
            v.to_string().into_bytes()
        }
        6 => {
            v["started_at"] = json!((Utc::now() + chrono::Duration::days(2)).to_rfc3339());
            v.to_string().into_bytes()
        }
        7 => {
            v["error"] = json!("an ok run cannot carry an error");
            v.to_string().into_bytes()
        }
        _ => {
            v["samples"][0]["value"] = Value::Null;
            v.to_string().into_bytes()
        }
    };
    (key, payload)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_go_to_dead_letter_and_good_runs_are_not_lost() {
    let mut p = Pipeline::new(Env::load(), "malformed", 3).await;
    let pause = Scale::from_env().pick(Duration::from_millis(700), Duration::from_secs(6));
    p.write_host_config(&cpu_and_memory_jobs());
    let bad: Vec<(String, Vec<u8>)> = (0..MALFORMED).map(malformed).collect();
    for (i, (_, payload)) in bad.iter().enumerate() {
        assert!(
            sonde_message::decode(payload, Utc::now()).is_err(),
            "malformed message {i} decodes: {}",
            String::from_utf8_lossy(payload)
        );
    }
    let distinct: BTreeSet<&Vec<u8>> = bad.iter().map(|(_, p)| p).collect();
    assert_eq!(
        distinct.len(),
        MALFORMED,
        "malformed payloads must be unique"
    );

    let tap = p.tap();
    let _recorder = p.start_recorder("batch.max_delay_ms = 300");
    let mut host = p.start_host();
    wait_for_stored(&p, 2, Duration::from_secs(90)).await;

    let producer: FutureProducer = kafka_client_config(&p.env, &p.env.host_cert_dir)
        .create()
        .expect("producer for the malformed messages");
    for burst in bad.chunks(100) {
        let mut deliveries = Vec::new();
        for (key, payload) in burst {
            let record = FutureRecord::to(&p.topic).key(key).payload(payload);
            deliveries.push(
                producer
                    .send_result(record)
                    .expect("queue a malformed message"),
            );
        }
        for d in deliveries {
            assert!(
                matches!(d.await, Ok(Ok(_))),
                "producing a malformed message failed"
            );
        }
        host.assert_running();
        tokio::time::sleep(pause).await;
    }

    let published_so_far = published(&p.host_logs()).len();
    wait_for_published(&p, published_so_far + 3, Duration::from_secs(60)).await;
    p.stop_host(&mut host);
    let expect = Expect {
        dead_letters: MALFORMED as i64,
        ..Expect::default()
    };
    let ledger = assert_exactly_once(&p, &tap, expect).await;
    assert_eq!(ledger.tapped.undecodable, MALFORMED as u64);

    let db = sonde_tests::pg_connect(&p.env, &p.database)
        .await
        .expect("connect to the drill's database");
    let rows = db
        .query("SELECT payload FROM dead_letter", &[])
        .await
        .expect("read dead_letter");
    let stored: BTreeSet<Vec<u8>> = rows.iter().map(|r| r.get(0)).collect();
    let injected: BTreeSet<Vec<u8>> = bad.into_iter().map(|(_, p)| p).collect();
    let missing = injected.difference(&stored).count();
    let unexpected = stored.difference(&injected).count();
    assert!(
        missing == 0 && unexpected == 0,
        "dead_letter differs from the injected messages: {missing} missing, {unexpected} unexpected"
    );
}
