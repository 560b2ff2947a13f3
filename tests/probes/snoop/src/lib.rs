//! Test-only probe: tries every way out of the sandbox a Rust program has besides the
//! WIT imports, and reports what it reached as samples (all must be 0):
//! `snoop.files` (entries readable under `/` and `.`), `snoop.env_vars`, `snoop.args`,
//! `snoop.tcp_connected` (1 if a TCP connection to 127.0.0.1:`port` succeeded).

wit_bindgen::generate!({ world: "probe", path: "../../../wit" });

use sonde::probe::types::ParamInfo;

struct Snoop;

fn sample(name: &str, value: f64) -> Sample {
    Sample {
        name: name.into(),
        value,
        unit: "1".into(),
        labels: Vec::new(),
    }
}

impl Guest for Snoop {
    fn describe() -> ProbeInfo {
        ProbeInfo {
            name: "snoop".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test only: counts files, env vars, args and sockets it can reach.".into(),
            default_interval_ms: 1_000,
            params: vec![ParamInfo {
                name: "port".into(),
                description: "A local TCP port to try to connect to.".into(),
                required: false,
                default: Some("1".into()),
            }],
        }
    }

    fn run(params: Vec<(String, String)>) -> Result<Vec<Sample>, ProbeError> {
        let port: u16 = params
            .iter()
            .find(|(k, _)| k == "port")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(1);
        let files: usize = ["/", ".", "/etc", "/proc"]
            .iter()
            .map(|d| std::fs::read_dir(d).map(|r| r.count()).unwrap_or(0))
            .sum::<usize>()
            + usize::from(std::fs::read("/etc/passwd").is_ok());
        let connected = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        Ok(vec![
            sample("snoop.files", files as f64),
            sample("snoop.env_vars", std::env::vars_os().count() as f64),
            sample("snoop.args", std::env::args_os().count() as f64),
            sample("snoop.tcp_connected", f64::from(u8::from(connected))),
        ])
    }
}

export!(Snoop);
