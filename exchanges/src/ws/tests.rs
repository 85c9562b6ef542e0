//! Fault tests (filled below).
