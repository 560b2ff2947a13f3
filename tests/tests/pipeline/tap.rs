//! A consumer of the drill's topic in a group of its own: what reached the broker, decoded
//! with the wire format's own `decode`, so the drill knows every run's sample count.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::Utc;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;
use sonde_tests::{test_consumer_config, unique_topic, Env};
use uuid::Uuid;

/// One run as it arrived on the topic.
#[derive(Debug, Clone)]
pub struct TappedRun {
    pub job: String,
    pub samples: i64,
    /// How many times the run's message is on the topic (more than 1 after a redelivery).
    pub copies: u32,
}

#[derive(Debug, Default, Clone)]
pub struct Tapped {
    pub runs: HashMap<Uuid, TappedRun>,
    /// Messages `decode` rejects (what the recorder must dead-letter).
    pub undecodable: u64,
    pub messages: u64,
}

pub struct Tap {
    seen: Arc<Mutex<Tapped>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Tap {
    pub fn start(env: &Env, topic: &str) -> Tap {
        let group = unique_topic("drill-tap");
        let consumer: BaseConsumer = test_consumer_config(env, &env.host_cert_dir, &group)
            .create()
            .unwrap_or_else(|e| panic!("tap consumer for {}: {e}", env.kafka_brokers));
        consumer
            .subscribe(&[topic])
            .unwrap_or_else(|e| panic!("tap subscribe {topic}: {e}"));
        let seen = Arc::new(Mutex::new(Tapped::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    // Errors while the broker is down are expected; librdkafka retries.
                    if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                        let decoded =
                            sonde_message::decode(m.payload().unwrap_or_default(), Utc::now());
                        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                        seen.messages += 1;
                        match decoded {
                            Ok(run) => {
                                let entry = seen.runs.entry(run.run_id).or_insert(TappedRun {
                                    job: run.job.clone(),
                                    samples: run.samples.len() as i64,
                                    copies: 0,
                                });
                                entry.copies += 1;
                            }
                            Err(_) => seen.undecodable += 1,
                        }
                    }
                }
            })
        };
        Tap {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    pub fn snapshot(&self) -> Tapped {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
