//! Commit order across PostgreSQL sessions.
//!
//! Several sessions write batches at once, but a batch's offsets are stored only after the
//! batch consumed before it has committed: stored offsets never pass a batch that is not in
//! PostgreSQL, which a crash in between would otherwise skip for good.
//!
//! A batch also inserts its runs into `probe_run` only after the previous batch committed.
//! A run can be in both (a host re-sending after a crash), and the later batch's insert then
//! waits on the earlier one's row lock; taken the other way round, the earlier batch would
//! wait on the later one while the later one waits for its turn, which PostgreSQL cannot see
//! as a deadlock. The samples (no unique key) are copied before the turn comes, so most of a
//! batch's work still overlaps the previous batch's.

use anyhow::Result;
use tokio::sync::watch;

/// Tells the next batch whether this one committed; dropped unreported, it says "no".
pub struct Outcome(watch::Sender<Option<bool>>);

/// Waits for the previous batch's outcome. The default has nothing to wait for.
#[derive(Default)]
pub struct Previous(Option<watch::Receiver<Option<bool>>>);

/// The previous batch did not commit: this one must not store offsets past it.
#[derive(Debug, thiserror::Error)]
#[error("the batch consumed before this one was not committed; this one will be consumed again")]
pub struct PreviousNotCommitted;

/// An outcome and the `Previous` of the batch after it.
pub fn pair() -> (Outcome, Previous) {
    let (tx, rx) = watch::channel(None);
    (Outcome(tx), Previous(Some(rx)))
}

impl Outcome {
    pub fn report(self, committed: bool) {
        self.0.send_replace(Some(committed));
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        self.0.send_if_modified(|v| {
            let unset = v.is_none();
            if unset {
                *v = Some(false);
            }
            unset
        });
    }
}

impl Previous {
    /// Wait until the previous batch has committed (at once if it has, or if there is none).
    pub async fn committed(&mut self) -> Result<(), PreviousNotCommitted> {
        let Some(rx) = self.0.as_mut() else {
            return Ok(());
        };
        match rx.wait_for(Option::is_some).await.map(|v| *v) {
            Ok(Some(true)) => {
                // Committed for good: later waits need not look again.
                self.0 = None;
                Ok(())
            }
            _ => Err(PreviousNotCommitted),
        }
    }

    /// Whether the previous batch is known not to have committed (it ended with an error).
    pub fn failed(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|rx| *rx.borrow() == Some(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_the_previous_outcome() {
        assert!(Previous::default().committed().await.is_ok());
        let (outcome, mut previous) = pair();
        let waiting = tokio::spawn(async move { previous.committed().await.is_ok() });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        outcome.report(true);
        assert!(waiting.await.unwrap());
    }

    #[tokio::test]
    async fn a_failed_or_vanished_previous_batch_is_not_committed() {
        let (outcome, mut previous) = pair();
        assert!(!previous.failed());
        outcome.report(false);
        assert!(previous.failed());
        assert!(previous.committed().await.is_err());
        let (outcome, mut previous) = pair();
        drop(outcome);
        assert!(previous.failed());
        assert!(previous.committed().await.is_err());
    }
}
