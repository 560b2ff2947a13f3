//! Drill: poison messages of every kind (`sonde_tests::poison`, at least 500) are written
//! straight to the topic in bursts while a real host publishes cpu and memory runs. Some
//! decode fine and are refused only by a constraint of the drill's database, as whatever
//! slips past validation would be. At the end `probe_run` holds exactly the runs the host
//! published, every poison message is in `dead_letter` verbatim with a reason of its kind,
//! and the recorder never exited.

mod pipeline;

use std::time::Duration;

use chrono::Utc;
use pipeline::ledger::{published, wait_for_published, wait_for_stored};
use pipeline::{assert_exactly_once, cpu_and_memory_jobs, Expect, Pipeline, Scale};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sonde_tests::poison::{poison, Kind, KINDS, REFUSE_SQL};
use sonde_tests::{kafka_client_config, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_go_to_dead_letter_and_never_halt_the_recorder() {
    let mut p = Pipeline::new(Env::load(), "poison", 3).await;
    let scale = Scale::from_env();
    // One burst holds one message of every kind; the long drill keeps them coming for
    // over a minute.
    let bursts = scale.pick(15, 100);
    let pause = scale.pick(Duration::from_millis(500), Duration::from_secs(1));
    let bad: Vec<(Kind, String, Vec<u8>)> = (0..bursts * KINDS.len()).map(poison).collect();
    let refused_by_postgres = bad
        .iter()
        .filter(|(kind, _, _)| *kind == Kind::RefusedByPostgres)
        .count();
    assert!(bad.len() >= 500 && refused_by_postgres > 0);
    for (kind, _, payload) in &bad {
        let decoded = sonde_message::decode(payload, Utc::now());
        assert_eq!(
            decoded.is_ok(),
            *kind == Kind::RefusedByPostgres,
            "{kind:?}"
        );
    }

    p.write_host_config(&cpu_and_memory_jobs());
    let tap = p.tap();
    let mut recorder = p.start_recorder("batch.max_delay_ms = 300");
    let mut host = p.start_host();
    wait_for_stored(&p, 2, Duration::from_secs(90)).await;
    let db = sonde_tests::pg_connect(&p.env, &p.database)
        .await
        .expect("connect to the drill's database");
    db.batch_execute(REFUSE_SQL)
        .await
        .expect("add the constraint that refuses some poison");

    let producer: FutureProducer = kafka_client_config(&p.env, &p.env.host_cert_dir)
        .set("message.max.bytes", "2000000")
        .create()
        .expect("producer for the poison messages");
    for burst in bad.chunks(KINDS.len()) {
        let mut deliveries = Vec::new();
        for (_, key, payload) in burst {
            let record = FutureRecord::to(&p.topic).key(key).payload(payload);
            deliveries.push(
                producer
                    .send_result(record)
                    .expect("queue a poison message"),
            );
        }
        for d in deliveries {
            assert!(
                matches!(d.await, Ok(Ok(_))),
                "producing a poison message failed"
            );
        }
        host.assert_running();
        recorder.assert_running();
        tokio::time::sleep(pause).await;
    }

    let published_so_far = published(&p.host_logs()).len();
    wait_for_published(&p, published_so_far + 3, Duration::from_secs(60)).await;
    p.stop_host(&mut host);
    let expect = Expect {
        dead_letters: bad.len() as i64,
        ..Expect::default()
    };
    let ledger = assert_exactly_once(&p, &tap, expect).await;
    assert_eq!(
        ledger.tapped.undecodable,
        (bad.len() - refused_by_postgres) as u64
    );
    recorder.assert_running();

    let rows = db
        .query("SELECT payload, reason FROM dead_letter", &[])
        .await
        .expect("read dead_letter");
    let mut stored: Vec<(Vec<u8>, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    stored.sort();
    let mut injected: Vec<(Kind, Vec<u8>)> = bad.into_iter().map(|(k, _, p)| (k, p)).collect();
    injected.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        stored.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        injected.iter().map(|(_, p)| p).collect::<Vec<_>>(),
        "dead_letter must hold exactly the poison payloads, verbatim"
    );
    for ((_, reason), (kind, _)) in stored.iter().zip(&injected) {
        let fits = match kind {
            Kind::RefusedByPostgres => reason.starts_with("PostgreSQL refused it: 23514 "),
            _ => [
                "invalid JSON: ",
                "invalid message: ",
                "unsupported message version",
            ]
            .iter()
            .any(|prefix| reason.starts_with(prefix)),
        };
        assert!(fits, "{kind:?} dead-lettered with reason {reason:?}");
    }
}
