//! `kafka.topic_prefix` and `kafka.topic_regex` end to end: one recorder consumes every
//! matching topic, a matching topic created while it runs included, and nothing from a
//! topic that does not match.

mod common;

use common::*;
use sonde_tests::{create_test_database, create_topic, pg_connect, unique_topic, Env};

/// Topics `<base>.<suffix>` for `suffixes`, created with two partitions.
async fn topics(env: &Env, base: &str, suffixes: &[&str]) -> Vec<String> {
    let mut names = Vec::new();
    for suffix in suffixes {
        let name = format!("{base}.{suffix}");
        create_topic(env, &name, 2).await;
        names.push(name);
    }
    names
}

/// Produces `runs` to `topic`.
async fn send(env: &Env, topic: &str, runs: &[sonde_message::RunMessage]) {
    produce(&producer(env), topic, &encoded(runs)).await;
}

/// Starts a recorder subscribed with `subscription` (an INI line) to topics under `base`:
/// `<base>.a` and `<base>.b` match, `<base>-other` does not; `<base>.late` matches and is
/// created once the first runs are recorded. Every run sent to a matching topic is recorded once, none other.
async fn drill(base: &str, subscription: &str) {
    let env = Env::load();
    let database = create_test_database(&env).await;
    let matching = topics(&env, base, &["a", "b"]).await;
    let other = [format!("{base}-other")];
    create_topic(&env, &other[0], 2).await;
    let t = Target {
        env: env.clone(),
        database,
        // Unused by the subscription; the INI requires one.
        topic: other[0].clone(),
        group: format!("{base}-group"),
    };
    let runs = make_runs(90, 2);
    send(&env, &matching[0], &runs[0..20]).await;
    send(&env, &matching[1], &runs[20..40]).await;
    send(&env, &other[0], &runs[40..60]).await;

    let recorder = Recorder::start(&t, subscription);
    let db = pg_connect(&env, &t.database).await.expect("connect");
    wait_for_count(&db, "SELECT count(*) FROM probe_run", 40).await;

    let late = topics(&env, base, &["late"]).await;
    send(&env, &late[0], &runs[60..90]).await;
    wait_for_count(&db, "SELECT count(*) FROM probe_run", 70).await;
    assert_exactly(&db, 70, 140).await;

    let mut want: Vec<String> = runs[..40]
        .iter()
        .chain(&runs[60..])
        .map(|r| r.run_id.to_string())
        .collect();
    want.sort();
    let got: Vec<String> = db
        .query("SELECT run_id::text FROM probe_run ORDER BY 1", &[])
        .await
        .expect("run ids")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(got, want, "exactly the runs of the matching topics");
    let offsets_of_other = count(
        &db,
        &format!(
            "SELECT count(*) FROM kafka_offset WHERE topic = '{}'",
            other[0]
        ),
    )
    .await;
    assert_eq!(
        offsets_of_other, 0,
        "the unmatched topic was never consumed"
    );
    drop(recorder);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_prefix_consumes_every_matching_topic_including_a_new_one() {
    let base = unique_topic("subs-prefix");
    drill(&base, &format!("kafka.topic_prefix = {base}.\n")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_regex_consumes_every_matching_topic_including_a_new_one() {
    // Topic names are letters, digits and `-`: nothing to escape but the dot.
    let base = unique_topic("subs-regex");
    drill(
        &base,
        &format!("kafka.topic_regex = ^{base}\\.(a|b|late)$\n"),
    )
    .await;
}
