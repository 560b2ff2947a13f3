//! kill -9 during an outage: a publisher process is killed while its runs wait in the spool;
//! a new process on the same spool replays them once the broker is back. Every run that
//! `publish` returned for arrives at least once, in order per key.
//!
//! The publisher is this test binary run again (`--exact kill_9_during_an_outage_loses_no_run`)
//! with its settings in `SPOOL_PUBLISHER_*` environment variables, which make the test
//! take the publisher's part instead of the driver's.

mod kafka_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sonde_host::kafka::KafkaSink;
use sonde_host::output::Sink;
use sonde_tests::{create_topic, unique_topic, Env, PrivateBroker};

use kafka_support::*;

const PROBES: [&str; 2] = ["cpu", "memory"];

/// The publishing process: `SPOOL_PUBLISHER_*` say where and what; prints
/// `published <run_id> <seq>` once `publish` returned for a run.
fn spool_publisher() {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let env = Env::load();
    let spool = std::path::PathBuf::from(var("SPOOL_PUBLISHER_DIR"));
    let first: u64 = var("SPOOL_PUBLISHER_FIRST")
        .parse()
        .expect("SPOOL_PUBLISHER_FIRST");
    let count: u64 = var("SPOOL_PUBLISHER_COUNT")
        .parse()
        .expect("SPOOL_PUBLISHER_COUNT");
    let sink = KafkaSink::start(&settings(
        &var("SPOOL_PUBLISHER_BROKERS"),
        &env.host_cert_dir,
        &var("SPOOL_PUBLISHER_TOPIC"),
        &spool,
    ))
    .unwrap();
    println!("replaying {}", sink.pending());
    for seq in first..first + count {
        let msg = numbered_run("web-1", PROBES[seq as usize % 2], seq);
        let id = msg.run_id;
        sink.publish(msg);
        println!("published {id} {seq}");
        std::thread::sleep(Duration::from_millis(200));
    }
    sink.shutdown(Duration::from_secs(120)).unwrap();
    println!("left {}", sink.pending());
}

struct Publisher {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

fn publisher(
    brokers: &str,
    topic: &str,
    spool: &std::path::Path,
    first: u64,
    count: u64,
) -> Publisher {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "kill_9_during_an_outage_loses_no_run",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SPOOL_PUBLISHER_DIR", spool)
        .env("SPOOL_PUBLISHER_BROKERS", brokers)
        .env("SPOOL_PUBLISHER_TOPIC", topic)
        .env("SPOOL_PUBLISHER_FIRST", first.to_string())
        .env("SPOOL_PUBLISHER_COUNT", count.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the publisher process");
    let stdout = child.stdout.take().expect("publisher stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Publisher { child, lines }
}

/// The run id of a `published <run_id> <seq>` line (libtest may have printed
/// "test kill_9_during_an_outage_loses_no_run ... " in front of it).
fn published_id(line: &str) -> Option<&str> {
    line.split("published ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
}

/// Run ids of the next `n` `published` lines.
fn next_published(p: &Publisher, n: usize, into: &mut Vec<uuid::Uuid>) {
    let mut seen = 0;
    while seen < n {
        let line = p
            .lines
            .recv_timeout(Duration::from_secs(60))
            .expect("publisher went quiet");
        if let Some(id) = published_id(&line) {
            into.push(id.parse().expect("run id"));
            seen += 1;
        }
    }
}

#[test]
fn kill_9_during_an_outage_loses_no_run() {
    if std::env::var_os("SPOOL_PUBLISHER_DIR").is_some() {
        // This process is the publisher the driver below started.
        return spool_publisher();
    }
    let env = Env::load();
    let broker = PrivateBroker::start();
    let env = broker.env(&env);
    let topic = unique_topic("host-crash");
    block_on(create_topic(&env, &topic, 2));
    let spool = tempfile::tempdir().unwrap();
    let mut published = Vec::new();

    let mut first = publisher(&env.kafka_brokers, &topic, spool.path(), 0, 10_000);
    next_published(&first, 5, &mut published);
    broker.front_stop();
    // Runs published before the front was down (lines still queued here, and the next
    // ones while the stop takes effect on a busy machine) may have been delivered, so
    // they are published but not necessarily spooled; the 15 counted after them are.
    while let Ok(line) = first.lines.try_recv() {
        if let Some(id) = published_id(&line) {
            published.push(id.parse().expect("run id"));
        }
    }
    next_published(&first, 2, &mut published);
    next_published(&first, 15, &mut published);
    first.child.kill().expect("kill -9 the publisher");
    first.child.wait().expect("reap the publisher");
    // Lines already written before the kill are runs `publish` returned for.
    while let Ok(line) = first.lines.recv_timeout(Duration::from_secs(1)) {
        if let Some(id) = published_id(&line) {
            published.push(id.parse().expect("run id"));
        }
    }
    broker.front_start();

    let mut second = publisher(&env.kafka_brokers, &topic, spool.path(), 100_000, 5);
    let replaying: u64 = loop {
        let line = second
            .lines
            .recv_timeout(Duration::from_secs(60))
            .expect("second publisher started");
        if let Some(n) = line.split("replaying ").nth(1) {
            break n.trim().parse().expect("replaying count");
        }
    };
    assert!(
        replaying >= 15,
        "the restarted publisher found the {replaying} runs spooled during the outage"
    );
    next_published(&second, 5, &mut published);
    let left = loop {
        let line = second
            .lines
            .recv_timeout(Duration::from_secs(180))
            .expect("second publisher finished");
        // libtest prints "test spool_publisher ... " in front of the first line.
        if let Some(n) = line.split("left ").nth(1) {
            break n.trim().to_owned();
        }
    };
    assert!(second.child.wait().expect("second publisher").success());
    assert_eq!(left, "0", "the restarted publisher drained the spool");

    let got = consume(&env, &topic, published.len(), Duration::from_secs(90));
    let (counts, per_key) = tally(&got);
    let lost: Vec<_> = published
        .iter()
        .filter(|id| !counts.contains_key(id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} runs lost: {lost:?}",
        lost.len(),
        published.len()
    );
    assert_ordered_per_key(&per_key);
}
