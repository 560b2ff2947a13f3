//! Drill: a probe rolled out to three hosts over the control topic, with the real broker,
//! recorder and PostgreSQL.
//!
//! 1. v1 (the cpu component) to every host;
//! 2. v2 (the memory component) as a 34 % canary: exactly one of the three hosts takes it
//!    (the host names are picked with the hosts' own bucket function so that it is so);
//! 3. a bundle signed by an untrusted key and one whose component is not the one signed,
//!    both with higher versions than anything else, are refused on every host;
//! 4. rollback: v1's component again, as version 3, to every host;
//! 5. a signed tombstone (version 4) stops the job everywhere.
//!
//! At the end PostgreSQL must show, per host, exactly which component sha256 produced
//! which runs, in which window; the drill prints the time from each publish to the first
//! run of its component on each host.

mod pipeline;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pipeline::fleet::{FleetHost, Operator};
use pipeline::{probe, Pipeline, Proc};
use sha2::{Digest, Sha256};
use sonde_host::fleet::target::bucket;
use sonde_tests::{create_topic, produce_raw, unique_topic, Env};

const JOB: &str = "probe";
const CANARY_PERCENT: u64 = 34;

/// Three host names for this job: exactly one inside the canary's share.
fn three_hosts() -> [String; 3] {
    let inside = |n: &String| bucket(JOB, n) < CANARY_PERCENT * 100;
    let names: Vec<String> = (0..).map(|i| format!("fleet-host-{i}")).take(64).collect();
    let canary = names
        .iter()
        .find(|n| inside(n))
        .expect("a host inside 34 %");
    let mut others = names.iter().filter(|n| !inside(n));
    [
        canary.clone(),
        others.next().expect("a host outside").clone(),
        others.next().expect("a second host outside").clone(),
    ]
}

fn sha256_hex(path: &std::path::Path) -> String {
    hex_of(&std::fs::read(path).expect("read component"))
}

fn hex_of(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Per host, per component sha256: the started_at of each run of the job.
type Runs = BTreeMap<String, BTreeMap<String, Vec<DateTime<Utc>>>>;

async fn runs(p: &Pipeline) -> Runs {
    let db = sonde_tests::pg_connect(&p.env, &p.database)
        .await
        .expect("connect to the drill's database");
    let rows = db
        .query(
            "SELECT host, coalesce(component_sha256, ''), started_at FROM probe_run WHERE job = $1 ORDER BY started_at",
            &[&JOB],
        )
        .await
        .unwrap_or_default();
    let mut out: Runs = BTreeMap::new();
    for r in rows {
        out.entry(r.get(0))
            .or_default()
            .entry(r.get(1))
            .or_default()
            .push(r.get(2));
    }
    out
}

/// Waits until every host in `hosts` has a run of `sha` that started after `since`;
/// returns each host's first such start.
async fn wait_for_runs_of(
    p: &Pipeline,
    procs: &mut [Proc],
    hosts: &[&String],
    sha: &str,
    since: DateTime<Utc>,
) -> BTreeMap<String, DateTime<Utc>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let all = runs(p).await;
        let firsts: BTreeMap<String, DateTime<Utc>> = hosts
            .iter()
            .filter_map(|h| {
                // The host may take the bundle a moment before `publish` hears the ack.
                let from = since - chrono::Duration::seconds(1);
                let first = all.get(*h)?.get(sha)?.iter().find(|t| **t >= from)?;
                Some(((*h).clone(), *first))
            })
            .collect();
        if firsts.len() == hosts.len() {
            return firsts;
        }
        for proc in procs.iter_mut() {
            proc.assert_running();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "runs of {sha} since {since} on {hosts:?}: only {firsts:?}; stored: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn report(what: &str, published: DateTime<Utc>, firsts: &BTreeMap<String, DateTime<Utc>>) {
    for (host, first) in firsts {
        let ms = (*first - published).num_milliseconds();
        println!("publish → first run: {what:<10} {host:<14} {ms:>6} ms");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_rolled_out_canaried_and_rolled_back_over_the_control_topic() {
    let mut p = Pipeline::new(Env::load(), "fleet", 4).await;
    let control = unique_topic("drill-fleet-control");
    create_topic(&p.env, &control, 2).await;
    let op = Operator {
        dir: p.dir().join("operator"),
        control_topic: control.clone(),
        brokers: p.env.kafka_brokers.clone(),
        cert_dir: p.env.host_cert_dir.clone(),
    };
    std::fs::create_dir_all(&op.dir).expect("operator dir");
    let trusted = op.keygen("release");
    op.keygen("stranger");

    let [canary, other_a, other_b] = three_hosts();
    let hosts = [
        FleetHost::new(&p, &canary, "{ env = \"prod\", role = \"web\" }"),
        FleetHost::new(&p, &other_a, "{ env = \"prod\", role = \"db\" }"),
        FleetHost::new(&p, &other_b, "{ env = \"staging\", role = \"web\" }"),
    ];
    let _recorder = p.start_recorder("batch.max_delay_ms = 100");
    let mut procs: Vec<Proc> = hosts
        .iter()
        .map(|h| h.start(&p, &control, &trusted))
        .collect();
    let all: Vec<&String> = hosts.iter().map(|h| &h.name).collect();

    let (v1, v2) = (probe("cpu"), probe("memory"));
    let (sha1, sha2) = (sha256_hex(&v1), sha256_hex(&v2));
    let settings = op.dir.join("job.toml");
    std::fs::write(&settings, "interval_ms = 1000\n").expect("job settings");
    let job = ["--job", settings.to_str().expect("utf-8 path")];

    // 1. v1 everywhere.
    let t1 = op.publish(&v1, JOB, "release", 1, &job);
    let firsts = wait_for_runs_of(&p, &mut procs, &all, &sha1, t1).await;
    report("v1", t1, &firsts);

    // 2. v2 to 34 %: the canary host only.
    let t2 = op.publish(
        &v2,
        JOB,
        "release",
        2,
        &[&job[..], &["--percent", "34"]].concat(),
    );
    let firsts = wait_for_runs_of(&p, &mut procs, &[&canary], &sha2, t2).await;
    report("v2 canary", t2, &firsts);

    // 3. Higher versions that must never win: an untrusted signer, a swapped component.
    let bandwidth = probe("bandwidth");
    op.publish(&bandwidth, JOB, "stranger", 10, &job);
    let tampered = op.dir.join("tampered.bundle");
    let out = ["--out", tampered.to_str().expect("utf-8 path")];
    op.publish(&bandwidth, JOB, "release", 11, &[&job[..], &out].concat());
    let mut bytes = std::fs::read(&tampered).expect("read the bundle");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let tampered_sha =
        hex_of(&bytes[bytes.len() - std::fs::metadata(&bandwidth).expect("size").len() as usize..]);
    produce_raw(&p.env, &control, JOB, &bytes);

    // 4. Roll back: v1's component as version 3, everywhere.
    let t3 = op.publish(&v1, JOB, "release", 3, &job);
    let firsts = wait_for_runs_of(&p, &mut procs, &[&canary], &sha1, t3).await;
    report("rollback", t3, &firsts);
    // A few more runs on every host after the rollback, then a signed tombstone stops the job.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let t4 = op.stop(JOB, "release", 4);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !hosts
        .iter()
        .all(|h| h.log().contains("job stopped job=probe"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the tombstone did not stop the job everywhere"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for proc in procs.iter_mut() {
        assert!(proc.terminate(Duration::from_secs(60)), "host did not stop");
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stored = runs(&p).await;

    // Every host refused both bad bundles, once each, with a reason.
    for h in &hosts {
        let log = h.log();
        for reason in ["unknown_key", "sha256_mismatch"] {
            let n = log
                .lines()
                .filter(|l| {
                    l.contains("fleet bundle refused")
                        && l.contains(&format!("reason=\"{reason}\""))
                })
                .count();
            assert_eq!(n, 1, "{}: one {reason} refusal:\n{log}", h.name);
        }
    }

    // Nothing ran after the tombstone (a run in flight when it arrived may finish).
    for (host, by_sha) in &stored {
        let late: Vec<_> = by_sha
            .values()
            .flatten()
            .filter(|t| **t > t4 + chrono::Duration::seconds(1))
            .collect();
        assert!(
            late.is_empty(),
            "{host} ran the job after the tombstone: {late:?}"
        );
    }

    // Per host, exactly which component produced which runs.
    let shas = |host: &str| -> BTreeSet<String> {
        stored
            .get(host)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(
        shas(&canary),
        BTreeSet::from([sha1.clone(), sha2.clone()]),
        "canary: v1 and v2 only; {stored:?}"
    );
    for h in [&other_a, &other_b] {
        assert_eq!(
            shas(h),
            BTreeSet::from([sha1.clone()]),
            "{h}: v1 only; {stored:?}"
        );
    }
    for sha in [sha256_hex(&bandwidth), tampered_sha] {
        assert!(
            stored.values().all(|m| !m.contains_key(&sha)),
            "a refused bundle ran: {sha}"
        );
    }
    // The canary ran v2 only between its publish and the rollback, and v1 around it.
    let canary_runs = &stored[&canary];
    let v2_runs = &canary_runs[&sha2];
    let second = chrono::Duration::seconds(1);
    assert!(
        v2_runs
            .iter()
            .all(|t| *t >= t2 - second && *t <= t3 + second * 2),
        "v2 runs outside its window: {v2_runs:?}"
    );
    let last_v2 = v2_runs.iter().max().expect("v2 ran");
    let first_v2 = v2_runs.iter().min().expect("v2 ran");
    assert!(
        canary_runs[&sha1].iter().any(|t| t > last_v2),
        "v1 ran again after the rollback: {canary_runs:?}"
    );
    assert!(
        canary_runs[&sha1]
            .iter()
            .all(|t| t < first_v2 || *t >= t3 - second),
        "v1 did not run on the canary while v2 was its version: {canary_runs:?}"
    );
}
