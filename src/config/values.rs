//! How the file's values are written: durations (`10s`), lists of them and
//! networks (`10.0.0.0/8`).

use std::time::Duration;

use serde::Deserialize;

pub(super) fn de_duration_opt<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Networks as `10.0.0.0/8` or `fd00::/8`; a bare address is that one
/// address (`/32`, `/128`).
pub(super) fn de_networks_opt<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<ipnet::IpNet>>, D::Error> {
    let texts = Vec::<String>::deserialize(d)?;
    texts
        .iter()
        .map(|t| {
            let t = t.trim();
            t.parse::<ipnet::IpNet>()
                .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("{t:?} is not a network (10.0.0.0/8, fd00::/8) or an address"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(serde::de::Error::custom)
}

pub(super) fn de_duration_list_opt<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<Duration>>, D::Error> {
    let texts = Vec::<String>::deserialize(d)?;
    texts
        .iter()
        .map(|t| parse_duration(t))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Parses a human duration (`250ms`, `10s`, `5m`, `4h`, `30d`).
///
/// ```
/// use std::time::Duration;
/// use hookline::config::parse_duration;
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!("invalid duration {text:?} ({e}); use e.g. \"250ms\", \"10s\", \"5m\"")
    })
}

/// Formats a duration the way the config file and the API write them.
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}
