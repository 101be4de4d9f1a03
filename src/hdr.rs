//! HDR latency histograms: the one set of bounds every histogram in the crate
//! shares, and their lossless text encoding.
//!
//! Values are microseconds, 3 significant digits, from 1 µs to [`MAX_US`]
//! (100 s). Histograms built here can always be merged with each other, which
//! is what lets per-worker, per-second and per-run histograms add up exactly.
//! A leaf: probes (WebSocket round trips) and the recorder both build
//! histograms here, so neither has to depend on the other.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;

/// Highest latency a histogram tracks, in microseconds (100 s).
pub const MAX_US: u64 = 100_000_000;
const SIGFIG: u8 = 3;

/// A new, empty latency histogram (µs, 3 significant digits, 1 µs–100 s).
pub fn histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, MAX_US, SIGFIG)
        .unwrap_or_else(|_| unreachable!("valid histogram bounds"))
}

/// A duration in whole microseconds, at least 1 (what the histograms record).
pub fn micros(d: std::time::Duration) -> u64 {
    (d.as_micros().min(u128::from(u64::MAX)) as u64).max(1)
}

/// Serializes a histogram losslessly: HdrHistogram V2, then base64.
pub fn encode(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    // Serializing into a Vec cannot fail for a valid histogram.
    let _ = V2Serializer::new().serialize(h, &mut buf);
    base64::engine::general_purpose::STANDARD.encode(buf)
}

/// Reads a histogram written by [`encode`].
pub fn decode(text: &str) -> Option<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    Deserializer::new().deserialize(&mut bytes.as_slice()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialization_is_lossless() {
        let mut h = histogram();
        for i in 1..10_000u64 {
            h.record(i * i % 2_000_000 + 1).unwrap();
        }
        assert_eq!(decode(&encode(&h)).unwrap(), h);
    }

    #[test]
    fn micros_never_records_zero() {
        assert_eq!(micros(std::time::Duration::ZERO), 1);
        assert_eq!(micros(std::time::Duration::from_millis(3)), 3000);
    }
}
