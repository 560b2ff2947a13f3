//! The spool under real process conditions: short writes forced by a file size limit
//! (`RLIMIT_FSIZE`) and processes racing to open one spool directory.
//!
//! The child processes are this test binary run again with `--exact <test>`; the
//! `SPOOL_CHILD_*` variables make a test take the child's part.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use sonde_host::kafka::spool::{Appended, Spool};

/// Files may grow to this size in the child: a few records each.
const FSIZE_LIMIT_BYTES: u64 = 4096;
const VALUE_BYTES: usize = 900;
const RECORDS: u64 = 40;

fn child(test: &str, vars: &[(&str, &Path)]) -> Child {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.spawn().expect("start the child process")
}

/// The next line the child printed that starts with one of `tags` (libtest prints its own
/// lines around them).
fn next_tagged(out: &mut BufReader<ChildStdout>, tags: &[&str]) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let n = out.read_line(&mut line).expect("read the child's output");
        assert!(n > 0, "child exited before printing one of {tags:?}");
        if let Some(found) = tags
            .iter()
            .find_map(|t| line.find(t).map(|i| line[i..].trim_end().to_owned()))
        {
            return found;
        }
    }
}

fn value(seq: u64) -> Vec<u8> {
    let mut v = format!("{{\"run\":{seq}}}").into_bytes();
    v.resize(VALUE_BYTES, b' ');
    v
}

/// In the child: limit file sizes, append records, print what became of each.
fn append_under_a_file_size_limit(dir: &Path) {
    sonde_host::kafka::spool::survive_file_size_limit();
    let limit = libc::rlimit {
        rlim_cur: FSIZE_LIMIT_BYTES,
        rlim_max: FSIZE_LIMIT_BYTES,
    };
    // SAFETY: plain system call on a stack value.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limit) }, 0);
    let (mut spool, _) = Spool::open(dir, 1 << 30, 1 << 20).expect("open spool");
    for seq in 0..RECORDS {
        match spool.append("job", b"h/p", &value(seq)) {
            Ok(Appended::Stored { seq: stored, .. }) => println!("stored {seq} as {stored}"),
            other => println!("lost {seq}: {other:?}"),
        }
    }
    // Larger than any file may be: lost, and nothing of it may remain.
    match spool.append("job", b"h/p", &vec![b'x'; FSIZE_LIMIT_BYTES as usize]) {
        Ok(a) => println!("stored-big {a:?}"),
        Err(e) => println!("lost-big {e}"),
    }
    spool.sync().expect("sync");
    println!("done");
}

#[test]
fn short_writes_under_a_file_size_limit_leave_no_torn_record() {
    if let Some(dir) = std::env::var_os("SPOOL_CHILD_FSIZE") {
        return append_under_a_file_size_limit(Path::new(&dir));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut c = child(
        "short_writes_under_a_file_size_limit_leave_no_torn_record",
        &[("SPOOL_CHILD_FSIZE", dir.path())],
    );
    let mut out = BufReader::new(c.stdout.take().expect("child stdout"));
    for seq in 0..RECORDS {
        let line = next_tagged(&mut out, &["stored ", "lost "]);
        assert_eq!(
            line,
            format!("stored {seq} as {seq}"),
            "every run is retried and kept"
        );
    }
    let big = next_tagged(&mut out, &["stored-big", "lost-big"]);
    assert!(big.starts_with("lost-big"), "{big}");
    assert!(big.contains("File too large"), "{big}");
    next_tagged(&mut out, &["done"]);
    assert!(c.wait().expect("reap the child").success());

    let mut segments = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "seg") {
            segments += 1;
            let len = std::fs::metadata(&path).unwrap().len();
            assert!(
                len <= FSIZE_LIMIT_BYTES,
                "{} is {len} bytes",
                path.display()
            );
        }
    }
    assert!(segments >= 10, "the limit forced new segments ({segments})");
    let (mut spool, recovery) = Spool::open(dir.path(), 1 << 30, 1 << 20).unwrap();
    assert_eq!(recovery.torn_bytes, 0, "no torn record left behind");
    assert_eq!(recovery.pending, RECORDS);
    for seq in 0..RECORDS {
        let (got, rec) = spool.read_next().unwrap().expect("record");
        assert_eq!((got, rec.value), (seq, value(seq)));
    }
    assert!(spool.read_next().unwrap().is_none());
}

/// In the child: wait for the go file, try to open the spool, hold it until stdin closes.
fn race_for(dir: &Path) {
    let go = dir.with_extension("go");
    println!("ready");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !go.exists() {
        assert!(Instant::now() < deadline, "no go signal");
        std::thread::sleep(Duration::from_micros(200));
    }
    match Spool::open(dir, 1 << 20, 1 << 16) {
        Ok(held) => {
            println!("locked {}", std::process::id());
            let _ = std::io::stdin().read_line(&mut String::new());
            drop(held);
        }
        Err(e) => println!("refused {e}"),
    }
}

#[test]
fn processes_racing_for_one_spool_never_both_succeed() {
    if let Some(dir) = std::env::var_os("SPOOL_CHILD_RACE") {
        return race_for(Path::new(&dir));
    }
    const ROUNDS: usize = 8;
    const RACERS: usize = 4;
    let base = tempfile::tempdir().unwrap();
    for round in 0..ROUNDS {
        // A fresh directory each round: creating the lock file is part of the race.
        let dir = base.path().join(format!("spool-{round}"));
        let mut racers: Vec<_> = (0..RACERS)
            .map(|_| {
                let mut c = child(
                    "processes_racing_for_one_spool_never_both_succeed",
                    &[("SPOOL_CHILD_RACE", &dir)],
                );
                let out = BufReader::new(c.stdout.take().expect("child stdout"));
                (c, out)
            })
            .collect();
        for (_, out) in racers.iter_mut() {
            next_tagged(out, &["ready"]);
        }
        std::fs::write(dir.with_extension("go"), "").unwrap();
        let results: Vec<String> = racers
            .iter_mut()
            .map(|(_, out)| next_tagged(out, &["locked ", "refused "]))
            .collect();
        let winners: Vec<&String> = results.iter().filter(|r| r.starts_with("locked")).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        let winner_pid = winners[0].trim_start_matches("locked ");
        for refused in results.iter().filter(|r| r.starts_with("refused")) {
            assert!(
                refused.contains(&format!("in use by process {winner_pid}"))
                    || refused.contains("in use by another process"),
                "round {round}: {refused}"
            );
        }
        for (mut c, _) in racers {
            if let Some(mut stdin) = c.stdin.take() {
                let _ = stdin.write_all(b"\n");
            }
            assert!(c.wait().expect("reap").success(), "round {round}");
        }
    }
}
