//! Any bytes dropped on the import screen: read, sniff, map and validate without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pb2b_core::import::fuzz_entry(data);
});
