//! Properties of the `recorder.ini` parser: no text makes it panic, every error names a
//! line of the file, and settings written in any of the accepted spellings (section name,
//! `=` or `:`, spacing, comments, foreign sections around) read back as written.

use proptest::prelude::*;
use sonde_recorder::config::Config;

/// One `key = value` the parser must read back, and how to check it did.
#[derive(Debug, Clone)]
enum Setting {
    Topic(String),
    Brokers(String),
    Port(u16),
    MaxRows(usize),
    Option(String, String),
    RetentionDays(u32),
}

impl Setting {
    fn line(&self) -> (String, String) {
        match self {
            Setting::Topic(v) => ("kafka.topic".into(), v.clone()),
            Setting::Brokers(v) => ("kafka.bootstrap_servers".into(), v.clone()),
            Setting::Port(v) => ("postgres.port".into(), v.to_string()),
            Setting::MaxRows(v) => ("batch.max_rows".into(), v.to_string()),
            Setting::Option(k, v) => (format!("kafka.option.{k}"), v.clone()),
            Setting::RetentionDays(v) => ("postgres.retention_days".into(), v.to_string()),
        }
    }

    fn holds(&self, c: &Config) -> bool {
        match self {
            Setting::Topic(v) => &c.kafka.topic == v,
            Setting::Brokers(v) => &c.kafka.bootstrap_servers == v,
            Setting::Port(v) => c.postgres.port == *v,
            Setting::MaxRows(v) => c.batch.max_rows == *v,
            Setting::Option(k, v) => c.kafka.options.get(k) == Some(v),
            Setting::RetentionDays(v) => c.postgres.retention_days == *v,
        }
    }
}

/// A value as a file may hold it: no line break, no surrounding blanks, not empty.
fn value() -> impl Strategy<Value = String> {
    "[!-~]([ -~]{0,30}[!-~])?"
}

fn setting() -> impl Strategy<Value = Setting> {
    prop_oneof![
        value().prop_map(Setting::Topic),
        value().prop_map(Setting::Brokers),
        (1u16..).prop_map(Setting::Port),
        (1usize..=10_000_000).prop_map(Setting::MaxRows),
        ("[a-z][a-z.]{0,20}", value()).prop_map(|(k, v)| Setting::Option(k, v)),
        (0u32..=36_500).prop_map(Setting::RetentionDays),
    ]
}

/// Settings with distinct keys (a key set twice is an error, tested elsewhere).
fn settings() -> impl Strategy<Value = Vec<Setting>> {
    prop::collection::vec(setting(), 0..10).prop_map(|all| {
        let mut seen = std::collections::HashSet::new();
        all.into_iter()
            .filter(|s| seen.insert(s.line().0))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics_and_errors_name_a_line(text in "(\\PC|[\\[\\]=:#;\\n \\t]){0,400}") {
        if let Err(e) = Config::parse(&text, "r.ini") {
            let lines = text.lines().count().max(1);
            prop_assert!((1..=lines).contains(&e.line), "{e} (text has {lines} lines)");
            let named = format!("r.ini:{}:", e.line);
            prop_assert!(e.to_string().starts_with(&named), "{e}");
        }
    }

    #[test]
    fn lines_of_the_right_shape_never_panic(
        lines in prop::collection::vec(
            ("(kafka|postgres|batch)\\.[a-z_.]{0,24}", "[=:]", "\\PC{0,30}"),
            0..20,
        ),
    ) {
        let mut text = String::from("[recorder]\n");
        for (k, sep, v) in lines {
            text.push_str(&format!("{k} {sep} {v}\n"));
        }
        let _ = Config::parse(&text, "r.ini");
    }

    #[test]
    fn settings_read_back_in_any_spelling(
        settings in settings(),
        section in prop_oneof![Just("recorder"), Just("writer")],
        separators in prop::collection::vec((prop_oneof![Just("="), Just(":")], "[ \\t]{0,3}", "[ \\t]{0,3}"), 10),
        comment_every in 1usize..4,
        foreign in "[a-z]{1,8}",
    ) {
        let mut text = format!("[{foreign}]\nkafka.topic = not-ours\n\n[{section}]\n");
        for (i, (s, (sep, before, after))) in settings.iter().zip(&separators).enumerate() {
            if i % comment_every == 0 {
                text.push_str(if i % 2 == 0 { "# note\n" } else { "; note\n" });
            }
            let (key, value) = s.line();
            text.push_str(&format!("{before}{key}{before}{sep}{after}{value}{after}\n"));
        }
        text.push_str(&format!("[{foreign}]\nbatch.max_rows = nonsense\n"));
        let config = Config::parse(&text, "r.ini");
        prop_assert!(config.is_ok(), "{:?}\n{text}", config.err());
        let config = config.unwrap_or_default();
        for s in &settings {
            prop_assert!(s.holds(&config), "{s:?} not read back from\n{text}");
        }
    }
}
