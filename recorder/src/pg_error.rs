//! Is a failed write the data's fault or the server's? The answer decides between isolating
//! the message(s) responsible (dead letters) and retrying the same batch later.

use sonde_message::limits::one_line;
use tokio_postgres::Client;

/// How a failed write is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The rows themselves were refused: split the batch until the culprit is alone.
    Data,
    /// Anything else (connection lost, disk full, out of memory, read-only, too many
    /// connections, a schema problem): the same batch is retried with backoff.
    Retry,
}

/// Longest PostgreSQL error text kept as a dead-letter reason.
pub const MAX_REFUSAL_BYTES: usize = 1024;

/// The [`Fault`] of a SQLSTATE. Only the classes that describe the values being written count
/// as data: 22 (data exception: bad encoding, out-of-range values), 23 (integrity constraint:
/// check, not null, unique) and 54 (program limit: an index row or a statement too large).
/// Misclassifying an outage as data would dead-letter good messages, so every other class
/// is retried.
pub fn fault_of_sqlstate(code: &str) -> Fault {
    match code.get(..2) {
        Some("22" | "23" | "54") => Fault::Data,
        _ => Fault::Retry,
    }
}

/// The [`Fault`] of an error PostgreSQL raised on `constraint` (if any): a unique violation
/// of `probe_run`'s key is another recorder that just committed the same run (a rebalance
/// overlap), so the batch is retried and then skips that run; nothing is wrong with it.
pub fn fault_of(code: &str, constraint: Option<&str>) -> Fault {
    if code == "23505" && constraint == Some(crate::commit::RUN_ID_KEY) {
        return Fault::Retry;
    }
    fault_of_sqlstate(code)
}

/// Whether `e` is `probe_run`'s key refusing a run that is already recorded.
pub fn is_recorded_run(e: &anyhow::Error) -> bool {
    db_error(e).is_some_and(|db| {
        db.code().code() == "23505" && db.constraint() == Some(crate::commit::RUN_ID_KEY)
    })
}

/// The [`Fault`] of `e`. A closed connection is never the data's fault.
pub fn classify(e: &anyhow::Error, client: Option<&Client>) -> Fault {
    if client.is_none_or(|c| c.is_closed()) {
        return Fault::Retry;
    }
    match db_error(e) {
        Some(db) => fault_of(db.code().code(), db.constraint()),
        None => Fault::Retry,
    }
}

fn db_error(e: &anyhow::Error) -> Option<&tokio_postgres::error::DbError> {
    e.chain()
        .filter_map(|cause| cause.downcast_ref::<tokio_postgres::Error>())
        .find_map(tokio_postgres::Error::as_db_error)
}

/// `e` with its causes on one line, and the SQLSTATE when PostgreSQL gave one: how a failed
/// write is logged.
pub fn describe(e: &anyhow::Error) -> String {
    match db_error(e) {
        Some(db) => format!("{e:#} (SQLSTATE {})", db.code().code()),
        None => format!("{e:#}"),
    }
}

/// PostgreSQL's own words for why it refused a write (`22021: invalid byte sequence ...`),
/// on one line and bounded: the dead-letter reason of a message isolated by it.
pub fn refusal(e: &anyhow::Error) -> String {
    let text = match db_error(e) {
        Some(db) => {
            let mut text = format!(
                "PostgreSQL refused it: {} {}",
                db.code().code(),
                db.message()
            );
            if let Some(detail) = db.detail() {
                text.push_str(" (");
                text.push_str(detail);
                text.push(')');
            }
            text
        }
        None => format!("PostgreSQL refused it: {e:#}"),
    };
    one_line(&text, MAX_REFUSAL_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_data_classes_isolate() {
        let table = [
            ("22021", Fault::Data),  // invalid byte sequence (U+0000 in text)
            ("22008", Fault::Data),  // datetime field overflow
            ("22003", Fault::Data),  // numeric value out of range
            ("23505", Fault::Data),  // unique violation
            ("23514", Fault::Data),  // check violation
            ("54000", Fault::Data),  // index row size exceeds btree maximum
            ("08006", Fault::Retry), // connection failure
            ("53100", Fault::Retry), // disk full
            ("53200", Fault::Retry), // out of memory
            ("53300", Fault::Retry), // too many connections
            ("25006", Fault::Retry), // read-only transaction
            ("57P01", Fault::Retry), // admin shutdown
            ("40001", Fault::Retry), // serialization failure
            ("42P01", Fault::Retry), // undefined table
            ("XX000", Fault::Retry), // internal error
            ("", Fault::Retry),
        ];
        for (code, want) in table {
            assert_eq!(fault_of_sqlstate(code), want, "{code}");
        }
    }

    #[test]
    fn a_run_recorded_concurrently_is_retried_not_dead_lettered() {
        let key = Some(crate::commit::RUN_ID_KEY);
        assert_eq!(fault_of("23505", key), Fault::Retry);
        assert_eq!(fault_of("23505", Some("other_key")), Fault::Data);
        assert_eq!(fault_of("23505", None), Fault::Data);
        assert_eq!(fault_of("23514", key), Fault::Data);
    }
}
