//! The recorder's memory allocator: mimalloc (version 2), set in `main.rs`.
//!
//! Decoding a batch allocates a few small strings per sample, and the batch is freed on
//! another thread once written (off the write path). The system allocator spent about a
//! fifth of the recorder's CPU in `malloc` and `free` on that pattern; mimalloc's
//! thread-local free lists take about half as much.
//!
//! With its defaults mimalloc hands memory freed by a written batch back to the kernel
//! within milliseconds, and the next batch gets it back as fresh pages the kernel must
//! zero: 13–23 % of the recorder's CPU went to `clear_page` in the ingest bench. So the
//! recorder keeps what it freed: its resident memory stays at its peak, which the batch
//! limits (`batch.max_rows`, `batch.max_bytes`) and the consumer's queue bound.

use libmimalloc_sys::{mi_option_set, mi_option_t};

/// `mi_option_purge_delay` in mimalloc 2's `mi_option_e` (`mimalloc.h`): milliseconds
/// before freed memory is returned to the kernel; -1 never. The bindings name only some
/// options; the test below checks this index against the option's documented default.
const MI_OPTION_PURGE_DELAY: mi_option_t = 15;

/// Keep freed memory in the process instead of returning it to the kernel.
pub fn keep_freed_memory() {
    // SAFETY: mi_option_set only stores the value; any option index and value is accepted.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_index_is_the_purge_delay() {
        // mimalloc 2 documents purge_delay's default as 10 ms and no neighbouring option
        // defaults to 10 (eager_commit_delay is 1, use_numa_nodes 0).
        let read = |o| unsafe { libmimalloc_sys::mi_option_get(o) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(read(MI_OPTION_PURGE_DELAY), 10);
        }
        assert_eq!(read(MI_OPTION_PURGE_DELAY - 1), 1, "eager_commit_delay");
        keep_freed_memory();
        assert_eq!(read(MI_OPTION_PURGE_DELAY), -1);
    }
}
