//! Any bytes, read as a raw HTTP response or a bare body, must classify
//! without panicking, with a confidence in 0..1.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let obs = engine::Observation::parse(data);
    let c = engine::classify(&obs);
    assert!((0.0..=1.0).contains(&c.confidence));
    assert_eq!(c.fault.is_none(), c.fault_side.is_none());
});
