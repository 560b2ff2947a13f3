//! What the host says about its connection to Kafka: one line per change of state,
//! never one per message or per reconnect attempt.

/// Something the producer saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    Delivered,
    /// No broker can be reached (connection refused, DNS, timeout).
    Unreachable(String),
    /// The TLS handshake failed (wrong CA, certificate refused, hostname mismatch).
    Tls(String),
    /// The topic does not exist and the broker does not create it.
    UnknownTopic,
    /// A delivery failed for another reason; the message stays spooled and is retried.
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Starting,
    Up,
    Unreachable,
    Tls,
    UnknownTopic,
    Failed,
}

/// The connection state as far as the log is concerned.
#[derive(Debug)]
pub struct Link {
    state: State,
    brokers: String,
    topic: String,
    ca: String,
}

impl Link {
    pub fn new(brokers: &str, topic: &str, ca: Option<&std::path::Path>) -> Self {
        let ca = ca.map_or_else(
            || "the system's trusted CAs".to_owned(),
            |p| format!("CA file {}", p.display()),
        );
        Link {
            state: State::Starting,
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
            ca,
        }
    }

    /// The line to log for `obs`, if it changes the state. `pending` is the number of spooled messages.
    pub fn observe(&mut self, obs: &Observation, pending: u64) -> Option<(Level, String)> {
        let down = !matches!(self.state, State::Starting | State::Up);
        let (next, line) = match obs {
            Observation::Delivered => match self.state {
                State::Up => return None,
                State::Starting => (
                    State::Up,
                    (Level::Info, format!("connected to Kafka at {}, publishing to topic `{}`", self.brokers, self.topic)),
                ),
                _ => (State::Up, (Level::Info, format!("broker reachable again, replaying {pending} spooled messages"))),
            },
            // A more specific cause (TLS, unknown topic) also makes brokers look down: keep the specific one.
            Observation::Unreachable(_) | Observation::Failed(_) if down => return None,
            Observation::Unreachable(why) => (
                State::Unreachable,
                (Level::Warn, format!("broker unreachable, spooling ({} : {why})", self.brokers)),
            ),
            Observation::Failed(why) => {
                (State::Failed, (Level::Warn, format!("delivery to Kafka failed, spooling and retrying: {why}")))
            }
            Observation::Tls(_) if self.state == State::Tls => return None,
            Observation::Tls(why) => (
                State::Tls,
                (
                    Level::Error,
                    format!("TLS handshake with Kafka broker failed (verified against {}), spooling: {why}", self.ca),
                ),
            ),
            Observation::UnknownTopic if self.state == State::UnknownTopic => return None,
            Observation::UnknownTopic => (
                State::UnknownTopic,
                (
                    Level::Error,
                    format!(
                        "topic `{}` does not exist on {} and is not created automatically: create it; runs are spooled meanwhile",
                        self.topic, self.brokers
                    ),
                ),
            ),
        };
        self.state = next;
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> Link {
        Link::new("b:9093", "t", Some(std::path::Path::new("/pki/ca.pem")))
    }

    #[test]
    fn outage_logs_once_each_way() {
        let mut l = link();
        assert_eq!(
            l.observe(&Observation::Delivered, 0).map(|x| x.0),
            Some(Level::Info)
        );
        assert_eq!(l.observe(&Observation::Delivered, 0), None);
        let down = l
            .observe(&Observation::Unreachable("refused".into()), 3)
            .unwrap();
        assert!(
            down.1.starts_with("broker unreachable, spooling"),
            "{down:?}"
        );
        assert_eq!(
            l.observe(&Observation::Unreachable("refused".into()), 4),
            None
        );
        assert_eq!(
            l.observe(&Observation::Failed("Message timed out".into()), 4),
            None
        );
        let up = l.observe(&Observation::Delivered, 42).unwrap();
        assert_eq!(
            up,
            (
                Level::Info,
                "broker reachable again, replaying 42 spooled messages".into()
            )
        );
    }

    #[test]
    fn tls_failure_names_the_ca_file_and_is_not_masked_by_brokers_down() {
        let mut l = link();
        let (level, line) = l
            .observe(
                &Observation::Tls("ssl://b:9093/bootstrap: certificate verify failed".into()),
                0,
            )
            .unwrap();
        assert_eq!(level, Level::Error);
        assert!(
            line.contains("/pki/ca.pem") && line.contains("ssl://b:9093"),
            "{line}"
        );
        assert_eq!(
            l.observe(&Observation::Unreachable("1/1 brokers are down".into()), 0),
            None
        );
        assert_eq!(l.observe(&Observation::Tls("again".into()), 0), None);
    }

    #[test]
    fn unknown_topic_names_the_topic_once() {
        let mut l = link();
        let (_, line) = l.observe(&Observation::UnknownTopic, 0).unwrap();
        assert!(line.contains("topic `t`"), "{line}");
        assert_eq!(l.observe(&Observation::UnknownTopic, 0), None);
    }
}
