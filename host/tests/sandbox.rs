//! A probe sees nothing the host does not give it: no files, no environment, no
//! arguments, no sockets — even with an allow-everything HTTP list.

mod common;

use sonde_message::RunStatus;

#[test]
fn probe_reaches_no_files_env_args_or_sockets() {
    let dir = common::scratch();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let config = dir.path().join("host.toml");
    std::fs::write(
        &config,
        format!(
            "[[job]]\nprobe = \"{}\"\nparams = {{ port = \"{port}\" }}\nallow_http = [\"*\"]\n",
            common::test_probe("snoop").display()
        ),
    )
    .expect("write host.toml");
    let out = common::host_command(dir.path())
        .args(["--once", "--config", &config.display().to_string()])
        .env("SONDE_SECRET", "must-not-leak")
        .output()
        .expect("run host");
    let messages = common::decode_lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        messages.len(),
        1,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let msg = &messages[0];
    assert_eq!(msg.status, RunStatus::Ok, "{:?}", msg.error);
    for name in [
        "snoop.files",
        "snoop.env_vars",
        "snoop.args",
        "snoop.tcp_connected",
    ] {
        let s = msg
            .samples
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name}: {msg:?}"));
        assert_eq!(
            s.value, 0.0,
            "{name} should be 0: the probe reached something"
        );
    }
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the probe's TCP connection reached the listener: {other:?}"),
    }
}
