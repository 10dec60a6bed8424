//! `[environment.gates]` as configured: scan policy, signature, branch rules, soak and freeze windows.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

/// `[environment.gates]`: the rules a promotion into the environment must pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatesConfig {
    #[serde(default)]
    pub scan: Option<ScanPolicy>,
    /// The image must carry a valid signature by a trusted key (`[signing]`, `verify_keys`).
    #[serde(default)]
    pub signature: bool,
    /// Branch patterns (`release/*`) the image's commit must be on.
    #[serde(default)]
    pub branches: Vec<String>,
    /// And the commit must be merged into this branch (e.g. `main` for hotfixes).
    #[serde(default)]
    pub merged_to: Option<String>,
    /// How long the digest must have been in the source environment (`24h`, `3d`).
    #[serde(default)]
    pub soak: Option<DurationText>,
    /// Periods when promotions here are refused unless overridden (and recorded).
    #[serde(default)]
    pub freeze: Vec<FreezeWindow>,
    /// Environments whose signed promotion attestation the image must carry.
    #[serde(default)]
    pub attested_by: Vec<String>,
}

impl GatesConfig {
    pub fn is_empty(&self) -> bool {
        self == &GatesConfig::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanPolicy {
    /// Run to produce the report; `{image}` is `registry/repository@digest`, also
    /// `{service}`, `{tag}`, `{digest}`, `{env}`.
    #[serde(default = "default_scan_command")]
    pub command: String,
    /// Read this report instead of running a scanner (same placeholders; relative to
    /// the configuration file).
    #[serde(default)]
    pub report: Option<String>,
    /// Read the vulnerability attestation attached to the image instead of running a
    /// scanner (the newest one; it must be signed by a key trusted in the target).
    #[serde(default)]
    pub attestation: bool,
    /// Findings at or above this severity block.
    #[serde(default = "default_severity")]
    pub max_severity: Severity,
    /// Findings without a fixed version do not block.
    #[serde(default)]
    pub ignore_unfixed: bool,
    /// Accepted findings, each until a date.
    #[serde(default)]
    pub allow: Vec<AllowEntry>,
    #[serde(default = "default_scan_timeout")]
    pub timeout_secs: u64,
}

impl Default for ScanPolicy {
    fn default() -> Self {
        ScanPolicy {
            command: default_scan_command(),
            report: None,
            attestation: false,
            max_severity: default_severity(),
            ignore_unfixed: false,
            allow: Vec::new(),
            timeout_secs: default_scan_timeout(),
        }
    }
}

fn default_scan_command() -> String {
    "trivy image --format json --quiet {image}".into()
}

fn default_severity() -> Severity {
    Severity::High
}

fn default_scan_timeout() -> u64 {
    600
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowEntry {
    pub id: String,
    /// `YYYY-MM-DD`: the last day the exception holds.
    #[serde(deserialize_with = "date")]
    pub until: String,
    #[serde(default)]
    pub reason: String,
}

fn date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map(|_| text.clone())
        .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a date (YYYY-MM-DD)")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(text: &str) -> Option<Severity> {
        Some(match text.to_ascii_uppercase().as_str() {
            "UNKNOWN" => Severity::Unknown,
            "LOW" => Severity::Low,
            "MEDIUM" => Severity::Medium,
            "HIGH" => Severity::High,
            "CRITICAL" => Severity::Critical,
            _ => return None,
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        })
    }
}

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Severity::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a severity (LOW, MEDIUM, HIGH, CRITICAL)"
            ))
        })
    }
}

/// A duration as people write it: `90s`, `30m`, `24h`, `7d`, `2w`, `1y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationText {
    pub text: String,
    pub duration: Duration,
}

pub fn parse_duration(text: &str) -> Option<Duration> {
    crate::domain::duration::RetentionDuration::parse(text)
        .ok()
        .map(|d| Duration::from_secs(d.seconds))
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let duration = crate::domain::duration::RetentionDuration::parse(&text)
            .map(|d| Duration::from_secs(d.seconds))
            .map_err(serde::de::Error::custom)?;
        Ok(DurationText { text, duration })
    }
}

/// A period when promotions are refused: between two instants, or on days of the week.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeWindow {
    #[serde(default, deserialize_with = "instant")]
    pub from: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "instant")]
    pub until: Option<DateTime<Utc>>,
    /// `mon` ... `sun` (UTC): every such day, all day.
    #[serde(default, deserialize_with = "weekdays")]
    pub days: Vec<chrono::Weekday>,
    #[serde(default)]
    pub reason: String,
}

fn instant<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let text = String::deserialize(d)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| {
            serde::de::Error::custom(format!(
                "`{text}` is not an RFC 3339 time (2026-12-20T00:00:00Z)"
            ))
        })
}

fn weekdays<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<chrono::Weekday>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    names
        .iter()
        .map(|n| {
            n.parse::<chrono::Weekday>().map_err(|_| {
                serde::de::Error::custom(format!("`{n}` is not a day of the week (mon ... sun)"))
            })
        })
        .collect()
}

impl FreezeWindow {
    pub fn covers(&self, now: DateTime<Utc>) -> bool {
        let in_range = match (self.from, self.until) {
            (None, None) => true,
            (from, until) => from.is_none_or(|f| now >= f) && until.is_none_or(|u| now < u),
        };
        let on_day = self.days.is_empty() || self.days.contains(&now.weekday());
        in_range && on_day && (self.from.is_some() || self.until.is_some() || !self.days.is_empty())
    }

    /// When the window is, and why, as refusals name it.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(from) = self.from {
            parts.push(format!("from {}", from.format("%Y-%m-%d %H:%M UTC")));
        }
        if let Some(until) = self.until {
            parts.push(format!("until {}", until.format("%Y-%m-%d %H:%M UTC")));
        }
        if !self.days.is_empty() {
            let days: Vec<String> = self.days.iter().map(|d| d.to_string()).collect();
            parts.push(format!("on {}", days.join(", ")));
        }
        if !self.reason.is_empty() {
            parts.push(format!("({})", self.reason));
        }
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(
            parse_duration("1y"),
            Some(Duration::from_secs(365 * 86_400))
        );
        for bad in ["", "h", "24", "24x", "-1d", "1.5h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn freeze_windows_cover_ranges_and_days() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let range = FreezeWindow {
            from: Some(at("2026-12-20T00:00:00Z")),
            until: Some(at("2027-01-04T00:00:00Z")),
            days: Vec::new(),
            reason: "year end".into(),
        };
        assert!(range.covers(at("2026-12-25T12:00:00Z")));
        assert!(!range.covers(at("2027-01-04T00:00:00Z")));
        assert!(!range.covers(at("2026-12-19T23:59:59Z")));
        let weekend = FreezeWindow {
            from: None,
            until: None,
            days: vec![chrono::Weekday::Sat, chrono::Weekday::Sun],
            reason: String::new(),
        };
        // 2026-11-21 is a Saturday.
        assert!(weekend.covers(at("2026-11-21T10:00:00Z")));
        assert!(!weekend.covers(at("2026-11-23T10:00:00Z")));
    }

    #[test]
    fn gates_config_is_validated_with_locations() {
        let bad = "scan = { max_severity = \"SEVERE\" }\n";
        let err = toml::from_str::<GatesConfig>(bad).unwrap_err();
        assert!(err.message().contains("SEVERE"), "{}", err.message());
        let bad = "soak = \"a while\"\n";
        assert!(toml::from_str::<GatesConfig>(bad).is_err());
        let good = "signature = true\nbranches = [\"release/*\"]\nsoak = \"2h\"\nfreeze = [{ days = [\"sat\", \"sun\"] }]\nscan = { report = \"r.json\", allow = [{ id = \"CVE-1\", until = \"2027-01-01\" }] }\n";
        let config: GatesConfig = toml::from_str(good).unwrap();
        assert!(config.signature && config.scan.is_some());
        assert_eq!(config.soak.unwrap().duration, Duration::from_secs(7200));
    }
}
