//! Headless Chromium driven over the DevTools protocol, for tests that look at a page the
//! way a person would: load it, collect console errors and network requests, evaluate
//! script in it, take a PNG screenshot.
//!
//! Chromium is Debian's `chromium` (or `SONDE_CHROMIUM`); `tests/stack/browser-prereqs.sh`
//! installs it. A missing browser fails the test with that command.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How long any one DevTools step may take before the test fails instead of hanging.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// The flags every run uses: headless, no sandbox (root in CI), nothing that phones home.
const FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
];

/// Where Chromium is: `SONDE_CHROMIUM`, else `chromium` or `chromium-browser` on `PATH`.
///
/// # Panics
/// When there is none, with the command that installs it.
pub fn chromium_path() -> PathBuf {
    if let Some(path) = std::env::var_os("SONDE_CHROMIUM").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "chromium not found on PATH: run `tests/stack/browser-prereqs.sh` \
                 (as root: apt-get install chromium), or set SONDE_CHROMIUM"
            )
        })
}

/// A running headless Chromium with a fresh profile; killed on drop.
pub struct Browser {
    child: Child,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Every event received so far (`method`, `params`, `sessionId`).
    pub events: Vec<Value>,
    _profile: tempfile::TempDir,
    log_path: PathBuf,
}

impl Browser {
    /// Start Chromium with `window` = (width, height) and connect to its DevTools endpoint.
    pub fn launch(window: (u32, u32)) -> Result<Browser> {
        let profile = tempfile::tempdir().context("profile directory")?;
        let log_path = profile.path().join("chromium.log");
        let log = std::fs::File::create(&log_path)?;
        let chromium = chromium_path();
        let child = Command::new(&chromium)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--window-size={},{}", window.0, window.1))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting {}", chromium.display()))?;
        let mut child = child;
        let endpoint = match wait_for_endpoint(profile.path(), &mut child) {
            Ok(e) => e,
            Err(e) => {
                let _ = child.kill();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                bail!("{e:#}; chromium log:\n{log}");
            }
        };
        let (socket, _) = tungstenite::connect(endpoint.as_str())
            .with_context(|| format!("connecting to DevTools at {endpoint}"))?;
        if let MaybeTlsStream::Plain(tcp) = socket.get_ref() {
            tcp.set_read_timeout(Some(Duration::from_millis(200)))?;
        }
        Ok(Browser {
            child,
            socket,
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
            log_path,
        })
    }

    /// Chromium's own log (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Send one command (to `session`, or to the browser) and wait for its result.
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            command["sessionId"] = json!(s);
        }
        self.socket
            .send(Message::text(command.to_string()))
            .with_context(|| format!("sending {method}"))?;
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if let Some(message) = self.receive()? {
                if message["id"] == json!(id) {
                    if let Some(error) = message.get("error") {
                        bail!("{method}: {error}");
                    }
                    return Ok(message["result"].clone());
                }
                self.events.push(message);
            }
            if Instant::now() > deadline {
                bail!("{method}: no answer within {STEP_TIMEOUT:?}");
            }
        }
    }

    /// One message, or `None` after the read timeout.
    fn receive(&mut self) -> Result<Option<Value>> {
        match self.socket.read() {
            Ok(Message::Text(text)) => Ok(Some(serde_json::from_str(text.as_str())?)),
            Ok(_) => Ok(None),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(anyhow!("DevTools connection: {e}")),
        }
    }

    /// Keep reading events until `done` holds for one of them.
    pub fn wait_for_event(&mut self, what: &str, done: impl Fn(&Value) -> bool) -> Result<()> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        if self.events.iter().any(&done) {
            return Ok(());
        }
        while Instant::now() < deadline {
            if let Some(message) = self.receive()? {
                let hit = done(&message);
                self.events.push(message);
                if hit {
                    return Ok(());
                }
            }
        }
        bail!("no {what} within {STEP_TIMEOUT:?}")
    }

    /// Read whatever events arrive during `quiet`.
    pub fn drain(&mut self, quiet: Duration) -> Result<()> {
        let until = Instant::now() + quiet;
        while Instant::now() < until {
            if let Some(message) = self.receive()? {
                self.events.push(message);
            }
        }
        Ok(())
    }

    /// A new tab with console, log, network and page events on; returns its session id.
    pub fn open_tab(&mut self) -> Result<String> {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"}))?;
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        )?;
        let session = attached["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("attachToTarget gave no sessionId: {attached}"))?
            .to_owned();
        for domain in ["Page", "Runtime", "Log", "Network"] {
            self.call(Some(&session), &format!("{domain}.enable"), json!({}))?;
        }
        Ok(session)
    }

    /// Navigate the tab to `url` and wait for its load event.
    pub fn load(&mut self, session: &str, url: &str) -> Result<()> {
        let navigated = self.call(Some(session), "Page.navigate", json!({"url": url}))?;
        if let Some(error) = navigated.get("errorText") {
            bail!("navigating to {url}: {error}");
        }
        self.wait_for_event("load event", |e| {
            e["method"] == "Page.loadEventFired" && e["sessionId"] == json!(session)
        })
    }

    /// Evaluate `expression` in the page; its value (JSON-serialisable) is returned.
    pub fn evaluate(&mut self, session: &str, expression: &str) -> Result<Value> {
        let result = self.call(
            Some(session),
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        )?;
        if let Some(exception) = result.get("exceptionDetails") {
            bail!("evaluating script: {exception}");
        }
        Ok(result["result"]["value"].clone())
    }

    /// A PNG of the whole page (not only the window).
    pub fn screenshot(&mut self, session: &str) -> Result<Vec<u8>> {
        let metrics = self.call(Some(session), "Page.getLayoutMetrics", json!({}))?;
        let size = &metrics["cssContentSize"];
        let clip =
            json!({"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1});
        let shot = self.call(
            Some(session),
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true, "clip": clip}),
        )?;
        let data = shot["data"]
            .as_str()
            .ok_or_else(|| anyhow!("captureScreenshot gave no data"))?;
        Ok(base64::engine::general_purpose::STANDARD.decode(data)?)
    }

    /// Console errors, uncaught exceptions and error log entries (CSP violations, failed
    /// loads) seen so far, one line each.
    pub fn errors(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| {
                let p = &e["params"];
                match e["method"].as_str()? {
                    "Runtime.exceptionThrown" => {
                        Some(format!("exception: {}", p["exceptionDetails"]))
                    }
                    "Runtime.consoleAPICalled"
                        if matches!(p["type"].as_str(), Some("error" | "assert")) =>
                    {
                        Some(format!("console.{}: {}", p["type"], p["args"]))
                    }
                    "Log.entryAdded" if p["entry"]["level"] == "error" => {
                        Some(format!("log: {}", p["entry"]["text"]))
                    }
                    _ => None,
                }
            })
            .collect()
    }

    /// URLs of every request the pages made.
    pub fn requests(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .filter_map(|e| e["params"]["request"]["url"].as_str().map(str::to_owned))
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ws://127.0.0.1:PORT/devtools/browser/ID` from the profile's `DevToolsActivePort`.
fn wait_for_endpoint(profile: &Path, child: &mut Child) -> Result<String> {
    let file = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + STEP_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(&file) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                return Ok(format!("ws://127.0.0.1:{}{}", port.trim(), path.trim()));
            }
        }
        if let Some(status) = child.try_wait()? {
            bail!("chromium exited ({status}) before opening DevTools");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "chromium wrote no {} within {STEP_TIMEOUT:?}",
        file.display()
    )
}
