//! Fuzz target: Binance SBE market-data frames (binary) through `binance::sbe::SbeDecoder`,
//! checking the invariants of `peregrine_fuzz::check_sbe`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| peregrine_fuzz::check_sbe(data));
