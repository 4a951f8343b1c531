//! Arbitrary bytes as a safetensors file: a typed error or a valid header, never a panic; every
//! tensor of a valid header can be read.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((start, tensors, _)) = bertqa::load::safetensors::parse_header(data) {
        for info in tensors.values() {
            let (b, e) = info.data_offsets;
            assert!(b <= e && start + e <= data.len());
        }
    }
});
