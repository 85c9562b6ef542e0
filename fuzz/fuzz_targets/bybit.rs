//! Fuzz target: bybit frames through its normalizer (and book sequencer), checking the
//! invariants of `peregrine_fuzz::check`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peregrine_exchanges::venue::Venue;

fuzz_target!(|data: &[u8]| peregrine_fuzz::check(Venue::Bybit, data));
