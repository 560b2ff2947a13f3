//! Wake-ups for the hot-load watcher: inotify on the directories its files live in, so an
//! idle host reads no directory until something in one changes.
//!
//! What inotify cannot see — a directory that does not exist yet, a change made from another
//! machine to a network filesystem, a filesystem without inotify — the watcher's slower
//! fallback poll still finds (see [`super::watch`]).

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use futures::{FutureExt, StreamExt};
use inotify::{EventMask, EventStream, Inotify, WatchDescriptor, WatchMask};

/// Changes in a directory that can start, replace or stop a job.
fn mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MODIFY
        | WatchMask::CLOSE_WRITE
        | WatchMask::MOVED_TO
        | WatchMask::MOVED_FROM
        | WatchMask::ATTRIB
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
}

pub struct DirEvents {
    /// `None` when inotify is not available: [`DirEvents::changed`] never resolves.
    stream: Option<EventStream<Vec<u8>>>,
    watched: HashMap<PathBuf, WatchDescriptor>,
    /// Every directory last asked for has a watch.
    complete: bool,
}

impl DirEvents {
    pub fn new() -> DirEvents {
        let stream = Inotify::init().and_then(|i| i.into_event_stream(vec![0u8; 4096]));
        let stream = match stream {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("inotify is not available ({e}); probe directories are polled");
                None
            }
        };
        DirEvents {
            stream,
            watched: HashMap::new(),
            complete: false,
        }
    }

    /// Watch each of `dirs` not watched yet; the others stay watched. True when a watch
    /// was added: a change between the caller's last look and now was not reported.
    pub fn watch(&mut self, dirs: &BTreeSet<PathBuf>) -> bool {
        let Some(stream) = &self.stream else {
            self.complete = false;
            return false;
        };
        let mut complete = true;
        let mut added = false;
        for dir in dirs {
            if self.watched.contains_key(dir) {
                continue;
            }
            match stream.watches().add(dir, mask()) {
                Ok(wd) => {
                    self.watched.insert(dir.clone(), wd);
                    added = true;
                }
                Err(e) => {
                    // Missing for now, or out of watches: the fallback poll covers it.
                    tracing::debug!(dir = %dir.display(), "cannot watch: {e}");
                    complete = false;
                }
            }
        }
        self.complete = complete;
        added
    }

    /// Whether every directory last given to [`DirEvents::watch`] is watched.
    pub fn complete(&self) -> bool {
        self.complete
    }

    /// Resolves at the next change in a watched directory, with the changes already queued
    /// behind it taken too (one wake-up for a burst). Never resolves without inotify.
    pub async fn changed(&mut self) {
        let Some(stream) = &mut self.stream else {
            return std::future::pending().await;
        };
        let mut lost_watch = false;
        let mut next = stream.next().await;
        loop {
            match next {
                Some(Ok(event)) => {
                    lost_watch |= event.mask.intersects(
                        EventMask::IGNORED | EventMask::DELETE_SELF | EventMask::MOVE_SELF,
                    );
                }
                Some(Err(e)) => {
                    tracing::warn!("reading inotify events: {e}; probe directories are polled");
                    self.stream = None;
                    self.watched.clear();
                    self.complete = false;
                    return;
                }
                None => break,
            }
            match stream.next().now_or_never() {
                Some(more) => next = more,
                None => break,
            }
        }
        if lost_watch {
            // A watched directory went away or was moved: watch whatever is there next time.
            self.watched.clear();
            self.complete = false;
        }
    }

    /// Take the changes already queued, without waiting: a pass about to run covers them.
    pub fn take_queued(&mut self) {
        // Completes only if a change is queued, consuming it and everything behind it.
        let _ = self.changed().now_or_never();
    }

    #[cfg(test)]
    fn is_watched(&self, dir: &std::path::Path) -> bool {
        self.watched.contains_key(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn changed_within(events: &mut DirEvents, ms: u64) -> bool {
        tokio::time::timeout(Duration::from_millis(ms), events.changed())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_new_replaced_or_removed_file_wakes_the_watcher_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let mut events = DirEvents::new();
        let wanted: BTreeSet<PathBuf> = [dir.path().to_path_buf()].into();
        assert!(events.watch(&wanted), "a new watch");
        assert!(events.complete() && events.is_watched(dir.path()));
        assert!(!events.watch(&wanted), "nothing new to watch");
        assert!(
            !changed_within(&mut events, 200).await,
            "nothing changed yet"
        );

        std::fs::write(other.path().join("x.wasm"), b"x").unwrap();
        assert!(
            !changed_within(&mut events, 200).await,
            "an unwatched directory"
        );

        let file = dir.path().join("cpu.wasm");
        std::fs::write(&file, b"one").unwrap();
        assert!(changed_within(&mut events, 2000).await, "a new file");
        let tmp = dir.path().join("cpu.wasm.tmp");
        std::fs::write(&tmp, b"two").unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        assert!(
            changed_within(&mut events, 2000).await,
            "a file replaced by rename"
        );
        std::fs::remove_file(&file).unwrap();
        assert!(changed_within(&mut events, 2000).await, "a removed file");
    }

    #[tokio::test]
    async fn changes_taken_while_queued_wake_nothing_later() {
        let dir = tempfile::tempdir().unwrap();
        let mut events = DirEvents::new();
        let wanted: BTreeSet<PathBuf> = [dir.path().to_path_buf()].into();
        assert!(events.watch(&wanted));
        for name in ["a.wasm", "b.wasm", "c.wasm"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        // Give the kernel time to queue the events, as the watcher's settle delay does.
        tokio::time::sleep(Duration::from_millis(100)).await;
        events.take_queued();
        assert!(
            !changed_within(&mut events, 300).await,
            "the queued changes were taken"
        );
        std::fs::write(dir.path().join("d.wasm"), b"x").unwrap();
        assert!(
            changed_within(&mut events, 2000).await,
            "a change after them still wakes"
        );
    }

    #[tokio::test]
    async fn a_directory_that_is_missing_or_goes_away_leaves_the_set_incomplete() {
        let dir = tempfile::tempdir().unwrap();
        let later = dir.path().join("later");
        let mut events = DirEvents::new();
        let wanted: BTreeSet<PathBuf> = [later.clone()].into();
        assert!(!events.watch(&wanted));
        assert!(!events.complete(), "a directory that does not exist yet");

        std::fs::create_dir(&later).unwrap();
        assert!(events.watch(&wanted));
        assert!(events.complete() && events.is_watched(&later));

        std::fs::remove_dir(&later).unwrap();
        assert!(changed_within(&mut events, 2000).await);
        assert!(!events.complete() && !events.is_watched(&later));
    }
}
