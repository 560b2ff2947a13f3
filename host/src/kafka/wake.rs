//! The delivery thread's one wake-up source: an eventfd that publishers write when they
//! spool a run and librdkafka writes when its main queue (delivery reports, client errors,
//! log lines) goes from empty to non-empty. The thread sleeps until either happens or its
//! own timer is due, instead of polling librdkafka every few milliseconds while messages
//! are in flight.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::producer::Producer as _;

use super::delivery::KafkaProducer;

/// What is written to the eventfd: eventfd takes exactly one native-endian u64.
const ONE: [u8; 8] = 1u64.to_ne_bytes();

#[derive(Debug)]
pub struct WakeFd(OwnedFd);

impl WakeFd {
    pub fn new() -> io::Result<Self> {
        // SAFETY: eventfd takes no pointers; a non-negative return is a new descriptor we own.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        Ok(WakeFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Wake the waiter (now, or at its next wait if it is busy).
    pub fn notify(&self) {
        // SAFETY: writes 8 bytes from a live array to our own descriptor. The only possible
        // failure, EAGAIN at a counter near u64::MAX, still leaves the fd readable.
        unsafe { libc::write(self.raw(), ONE.as_ptr().cast(), ONE.len()) };
    }

    /// Sleep until notified or `timeout` passes, then clear the notification.
    pub fn wait(&self, timeout: Duration) {
        let mut pfd = libc::pollfd {
            fd: self.raw(),
            events: libc::POLLIN,
            revents: 0,
        };
        // Round up: a wait that ends a fraction of a millisecond early only comes back at once.
        let ms = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
        if ready > 0 {
            self.clear();
        }
    }

    fn clear(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live buffer; on a non-blocking eventfd this
        // resets the counter or fails with EAGAIN when it was already 0.
        unsafe { libc::read(self.raw(), buf.as_mut_ptr().cast(), buf.len()) };
    }
}

/// A handle on a producer's main queue that writes to a [`WakeFd`] whenever the queue goes
/// from empty to non-empty, and tells whether events are waiting.
///
/// It must be dropped before the producer it was made from (see `Producer`'s field order).
pub struct MainQueue(*mut rd::rd_kafka_queue_t);

// SAFETY: librdkafka queue handles are thread-safe; this one is only read through
// `rd_kafka_queue_length` and destroyed once.
unsafe impl Send for MainQueue {}

impl MainQueue {
    /// # Safety
    /// `rk` must be a live client that outlives the returned handle.
    pub unsafe fn wake_on_events(rk: *mut rd::rd_kafka_t, wake: &WakeFd) -> Self {
        // SAFETY: `rk` is live (caller's contract); the payload is copied by librdkafka.
        unsafe {
            let queue = rd::rd_kafka_queue_get_main(rk);
            rd::rd_kafka_queue_io_event_enable(queue, wake.raw(), ONE.as_ptr().cast(), ONE.len());
            MainQueue(queue)
        }
    }

    /// Events waiting to be served by the producer's `poll`.
    pub fn len(&self) -> usize {
        // SAFETY: the handle is live until drop.
        unsafe { rd::rd_kafka_queue_length(self.0) }
    }
}

impl Drop for MainQueue {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_queue_get_main and destroyed only here. The client's
        // queue outlives this handle; only the handle's reference is released.
        unsafe { rd::rd_kafka_queue_destroy(self.0) };
    }
}

/// A producer whose main queue wakes the delivery thread.
pub struct WakingProducer {
    // Fields drop in order: the queue handle before the client it belongs to.
    queue: MainQueue,
    pub client: KafkaProducer,
}

impl WakingProducer {
    pub fn new(client: KafkaProducer, wake: &WakeFd) -> Self {
        // SAFETY: the handle is stored next to the client and dropped before it.
        let queue = unsafe { MainQueue::wake_on_events(client.client().native_ptr(), wake) };
        WakingProducer { queue, client }
    }

    /// Serve what librdkafka has queued (delivery reports, client errors, log lines); their
    /// callbacks record into the signals. Serves at most `max` events and returns false if
    /// more are waiting.
    pub fn serve(&self, max: usize) -> bool {
        for _ in 0..max {
            if self.queue.len() == 0 {
                return true;
            }
            self.client.poll(Duration::ZERO);
        }
        self.queue.len() == 0
    }
}
