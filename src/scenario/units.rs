//! The one place where durations (`250ms`, `30s`, `5m`), rates (`200/s`) and
//! sizes (`1m` = 1 MiB) are parsed. Each parser returns a full-sentence error
//! that names the bad text and shows a valid example.

use std::time::Duration;

// `Rate` belongs to the load plan; parsed here with the other units.
pub use crate::load::plan::Rate;

/// Parses `250ms`, `30s`, `5m`, `1h`, `1m30s`. A bare number is rejected: the unit matters.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad =
        || format!("invalid duration `{text}`: write a number and a unit, like 250ms, 30s or 5m");
    if t.is_empty() || t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad());
    }
    humantime::parse_duration(t).map_err(|_| bad())
}

/// Parses `200/s`, `30/m`, `3600/h`. The rate must be positive and finite.
pub fn parse_rate(text: &str) -> Result<Rate, String> {
    let bad =
        || format!("invalid rate `{text}`: write requests per unit of time, like 200/s or 30/m");
    let (num, unit) = text.trim().split_once('/').ok_or_else(bad)?;
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    let per = match unit.trim() {
        "s" | "sec" | "second" => 1.0,
        "m" | "min" | "minute" => 60.0,
        "h" | "hour" => 3600.0,
        _ => return Err(bad()),
    };
    if !n.is_finite() || n <= 0.0 {
        return Err(format!(
            "invalid rate `{text}`: the rate must be greater than zero"
        ));
    }
    Ok(Rate(n / per))
}

/// Parses a byte size: `512`, `64k`, `1m`, `2g` (binary units; `kb`, `kib`, `mb`, … also accepted).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let bad =
        || format!("invalid size `{text}`: write bytes or a number with k, m or g, like 64k or 1m");
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

/// Formats a size for people: `1 MiB`, `64 KiB`, `512 B`.
pub fn format_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("200/s"), Ok(Rate(200.0)));
        assert_eq!(parse_rate("30/m"), Ok(Rate(0.5)));
        assert!(parse_rate("200").is_err());
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("10/fortnight").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("512"), Ok(512));
        assert!(parse_size("1zb").is_err());
        assert_eq!(format_size(1 << 20), "1 MiB");
    }
}
