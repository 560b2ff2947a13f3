//! A DNS server on 127.0.0.1:0 (UDP) for the capability tests: it answers A/AAAA queries
//! for the names it is given (TTL 0, so every fetch asks again), answers NXDOMAIN for
//! the rest, or never answers at all; it counts the queries it received.
// Shared by several test crates, each using a part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, AAAA};
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

pub struct TestDns {
    pub addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for TestDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestDns {
    /// Answers `names` (lower-case, without the trailing dot) with their addresses.
    pub async fn start(names: &[(&str, &[&str])]) -> TestDns {
        let table: HashMap<String, Vec<IpAddr>> = names
            .iter()
            .map(|(n, addrs)| {
                let ips = addrs
                    .iter()
                    .map(|a| a.parse().expect("test address"))
                    .collect();
                (format!("{n}."), ips)
            })
            .collect();
        Self::start_inner(Some(table)).await
    }

    /// Receives and counts queries, never answers.
    pub async fn silent() -> TestDns {
        Self::start_inner(None).await
    }

    async fn start_inner(table: Option<HashMap<String, Vec<IpAddr>>>) -> TestDns {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind DNS");
        let addr = socket.local_addr().expect("DNS addr");
        let queries = Arc::new(AtomicUsize::new(0));
        let counter = queries.clone();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                counter.fetch_add(1, Ordering::SeqCst);
                let Some(table) = &table else { continue };
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                if let Some(reply) = answer(&query, table) {
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        });
        TestDns {
            addr,
            queries,
            task,
        }
    }

    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

fn answer(query: &Message, table: &HashMap<String, Vec<IpAddr>>) -> Option<Vec<u8>> {
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.message_type = MessageType::Response;
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    let q = query.queries.first()?.clone();
    let name = q.name().to_ascii().to_ascii_lowercase();
    match table.get(&name) {
        None => reply.metadata.response_code = ResponseCode::NXDomain,
        Some(addrs) => {
            for ip in addrs {
                let rdata = match (ip, q.query_type()) {
                    (IpAddr::V4(v4), RecordType::A) => RData::A(A(*v4)),
                    (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(*v6)),
                    _ => continue,
                };
                reply
                    .answers
                    .push(Record::from_rdata(q.name().clone(), 0, rdata));
            }
        }
    }
    reply.queries.push(q);
    reply.to_vec().ok()
}
