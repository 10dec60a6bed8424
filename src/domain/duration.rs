//! Durations as people write them in the configuration (`"7y"`, `"30d"`, `"1d12h"`): retention periods and soak times.

use std::fmt;

use serde::Serialize;

/// Seconds per unit a duration may be written in. A year is 365 days: retention periods
/// are compliance promises, and rounding them down by a leap day would break one.
const UNITS: [(&str, u64); 6] = [
    ("s", 1),
    ("m", 60),
    ("h", 3_600),
    ("d", 86_400),
    ("w", 7 * 86_400),
    ("y", 365 * 86_400),
];

/// Longest duration accepted: beyond this the arithmetic with timestamps stops making sense.
const MAX_SECONDS: u64 = 1_000 * 365 * 86_400;

/// A duration as written in the configuration (`"7y"`, `"30d"`, `"12h"`, `"1d12h"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionDuration {
    pub seconds: u64,
    /// What the configuration said, for messages.
    pub text: String,
}

impl RetentionDuration {
    /// Parses `<number><unit>` pairs, units s, m, h, d, w, y.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("empty duration: write a number and a unit, such as \"30d\"".into());
        }
        // `7 y` and `1d 12h` read as people mean them.
        let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
        let mut seconds: u64 = 0;
        let mut rest = compact.as_str();
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(format!(
                    "`{text}` is not a duration: expected a number at `{rest}` (such as \"7y\", \"30d\", \"12h\")"
                ));
            }
            let number: u64 = rest[..digits]
                .parse()
                .map_err(|_| format!("`{text}`: {} is too large", &rest[..digits]))?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
            let unit = &rest[..unit_len];
            let per = UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, per)| *per)
                .ok_or_else(|| {
                    if unit.is_empty() {
                        format!("`{text}`: a number needs a unit (s, m, h, d, w or y), such as \"{number}d\"")
                    } else {
                        format!("`{text}`: unknown unit `{unit}` (use s, m, h, d, w or y)")
                    }
                })?;
            rest = &rest[unit_len..];
            seconds = number
                .checked_mul(per)
                .and_then(|s| s.checked_add(seconds))
                .filter(|s| *s <= MAX_SECONDS)
                .ok_or_else(|| format!("`{text}` is too long (at most 1000y)"))?;
        }
        Ok(RetentionDuration {
            seconds,
            text: trimmed.to_string(),
        })
    }

    pub fn as_chrono(&self) -> chrono::Duration {
        // MAX_SECONDS keeps this far inside i64.
        chrono::Duration::seconds(self.seconds as i64)
    }
}

impl fmt::Display for RetentionDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for RetentionDuration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit_and_combined() {
        let seconds = |text: &str| RetentionDuration::parse(text).map(|d| d.seconds);
        assert_eq!(seconds("45s"), Ok(45));
        assert_eq!(seconds("90m"), Ok(5_400));
        assert_eq!(seconds("12h"), Ok(43_200));
        assert_eq!(seconds("30d"), Ok(2_592_000));
        assert_eq!(seconds("2w"), Ok(1_209_600));
        assert_eq!(seconds("7y"), Ok(7 * 365 * 86_400));
        assert_eq!(seconds("1d12h"), Ok(129_600));
        assert_eq!(seconds(" 0h "), Ok(0));
        assert_eq!(RetentionDuration::parse("7y").unwrap().to_string(), "7y");
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        let error = |text: &str| RetentionDuration::parse(text).unwrap_err();
        assert!(error("").contains("empty"));
        assert!(error("7").contains("needs a unit"), "{}", error("7"));
        assert!(error("7x").contains("unknown unit `x`"));
        assert!(error("7months").contains("unknown unit `months`"));
        assert!(error("d7").contains("expected a number"));
        assert!(error("-1d").contains("expected a number"));
        assert!(error("1001y").contains("too long"));
        assert!(error("99999999999999999999999d").contains("too large"));
    }
}
