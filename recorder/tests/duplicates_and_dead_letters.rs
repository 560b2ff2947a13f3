//! Same messages produced twice → recorded once; malformed messages → dead_letter while
//! good ones land in measurement. Real TLS broker, real SSL PostgreSQL (`just up`).

mod common;

use common::*;
use sonde_tests::pg_connect;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_messages_produced_twice_are_recorded_once() {
    let t = fresh_target("rec-dup", 3).await;
    let runs = make_runs(2_000, 5);
    let producer = producer(&t.env);
    let messages = encoded(&runs);
    produce(&producer, &t.topic, &messages).await;
    produce(&producer, &t.topic, &messages).await;

    let mut recorder = Recorder::start(&t, "");
    let db = pg_connect(&t.env, &t.database).await.expect("connect");
    // Every offset (4,000 messages) is consumed before we look at the rows.
    wait_for_count(
        &db,
        "SELECT coalesce(sum(next_offset), 0)::bigint FROM kafka_offset",
        4_000,
    )
    .await;
    assert_exactly(&db, 2_000, 10_000).await;

    // And a third copy while running changes nothing either.
    produce(&producer, &t.topic, &messages[..500]).await;
    wait_for_count(
        &db,
        "SELECT coalesce(sum(next_offset), 0)::bigint FROM kafka_offset",
        4_500,
    )
    .await;
    assert_exactly(&db, 2_000, 10_000).await;
    assert!(recorder.terminate(), "recorder must exit 0 on SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_go_to_dead_letter_and_good_ones_to_measurement() {
    let t = fresh_target("rec-dead", 2).await;
    let good = make_runs(300, 4);
    let mut messages = Vec::new();
    for i in 0..1_000 {
        let payload: Vec<u8> = match i % 5 {
            0 => b"{not json".to_vec(),
            1 => br#"{"v":2,"run_id":"x"}"#.to_vec(),
            2 => br#"{"v":1,"host":"h"}"#.to_vec(),
            3 => {
                let mut m = make_runs(1, 1).remove(0);
                m.started_at = chrono::Utc::now() + chrono::Duration::days(3);
                m.encode()
            }
            _ => {
                let mut m = make_runs(1, 1).remove(0);
                m.samples[0].value = f64::NAN;
                m.encode()
            }
        };
        messages.push((format!("bad-{i}"), payload));
        if let Some(run) = good.get(i % 300).filter(|_| i < 300) {
            messages.push((run.key(), run.encode()));
        }
    }
    produce(&producer(&t.env), &t.topic, &messages).await;

    let mut recorder = Recorder::start(&t, "batch.max_rows = 500\n");
    let db = pg_connect(&t.env, &t.database).await.expect("connect");
    wait_for_count(
        &db,
        "SELECT coalesce(sum(next_offset), 0)::bigint FROM kafka_offset",
        1_300,
    )
    .await;
    assert_eq!(count(&db, "SELECT count(*) FROM dead_letter").await, 1_000);
    assert_exactly(&db, 300, 1_200).await;
    for (reason, want) in [
        ("invalid JSON%", 200),
        ("unsupported message version 2%", 200),
        ("invalid message: missing field%", 200),
        ("%in the future%", 200),
        ("invalid message:%", 600),
    ] {
        let n: i64 = db
            .query_one(
                "SELECT count(*) FROM dead_letter WHERE reason LIKE $1",
                &[&reason],
            )
            .await
            .expect("count reasons")
            .get(0);
        assert_eq!(n, want, "dead letters with reason {reason}");
    }
    let raw: Vec<u8> = db
        .query_one(
            "SELECT payload FROM dead_letter WHERE reason LIKE 'invalid JSON%' LIMIT 1",
            &[],
        )
        .await
        .expect("payload")
        .get(0);
    assert_eq!(raw, b"{not json", "raw payload kept verbatim");
    assert!(recorder.terminate());
}
