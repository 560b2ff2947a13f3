//! The Sonde recorder library.
