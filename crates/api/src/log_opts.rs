//! `--log-opt` of the `json-file` driver: which keys exist, and `max-size`/`max-file` parsed
//! the way dockerd parses them (decimal units: `10m` is 10,000,000 bytes; `max-file` counts
//! the current file too). Errors carry dockerd's text.

use std::collections::BTreeMap;

/// The log driver berth writes (and reads back for `logs`).
pub const JSON_FILE: &str = "json-file";
/// The driver that keeps nothing.
pub const NONE: &str = "none";

/// Keys the json-file driver accepts (dockerd's `ValidateLogOpt`).
const KEYS: [&str; 8] = [
    "max-file",
    "max-size",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
];

/// Rotation settings of a json-file log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate once the file has reached this many bytes; `None` never rotates.
    pub max_size: Option<u64>,
    /// Files kept, the current one included (at least 1). Without `max_size` it has no
    /// effect, as in Docker.
    pub max_files: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_size: None,
            max_files: 1,
        }
    }
}

/// Checks the keys of a json-file `LogConfig.Config` (the create-time check).
pub fn validate_keys(config: &BTreeMap<String, String>) -> Result<(), String> {
    match config.keys().find(|k| !KEYS.contains(&k.as_str())) {
        Some(k) => Err(format!("unknown log opt '{k}' for json-file log driver")),
        None => Ok(()),
    }
}

/// The rotation a json-file `LogConfig.Config` asks for. Errors are dockerd's texts, which it
/// prefixes with `failed to initialize logging driver: `.
pub fn rotation(config: &BTreeMap<String, String>) -> Result<Rotation, String> {
    let mut r = Rotation::default();
    if let Some(s) = config.get("max-size") {
        let n = from_human_size(s)?;
        if n <= 0 {
            return Err("max-size must be a positive number".into());
        }
        r.max_size = Some(n as u64);
    }
    if let Some(s) = config.get("max-file") {
        let n: i64 = s
            .parse()
            .map_err(|_| format!("strconv.Atoi: parsing {s:?}: invalid syntax"))?;
        if n < 1 {
            return Err("max-file cannot be less than 1".into());
        }
        r.max_files = n.min(u32::MAX as i64) as u32;
    }
    if let Some(s) = config.get("compress") {
        let on = match s.as_str() {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
            "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
            _ => return Err(format!("strconv.ParseBool: parsing {s:?}: invalid syntax")),
        };
        if on {
            return Err(
                "berth does not compress rotated json-file logs yet (compress=true)".into(),
            );
        }
    }
    Ok(r)
}

/// go-units' `FromHumanSize`: a decimal number with an optional `k`, `m`, `g`, `t` or `p`
/// (any case, optionally followed by `i` and/or `b`), powers of 1000.
pub fn from_human_size(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid size: '{s}'");
    let t = s.trim_end_matches(['b', 'B']);
    let t = t.trim_end_matches(['i', 'I']);
    let (num, mult) = match t.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let m: f64 = match c.to_ascii_lowercase() {
                'k' => 1e3,
                'm' => 1e6,
                'g' => 1e9,
                't' => 1e12,
                'p' => 1e15,
                _ => return Err(bad()),
            };
            (&t[..t.len() - 1], m)
        }
        _ => (t, 1.0),
    };
    let num = num.trim_end_matches(' ');
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad());
    }
    let v: f64 = num.parse().map_err(|_| bad())?;
    Ok((v * mult) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sizes_are_decimal() {
        assert_eq!(from_human_size("10m"), Ok(10_000_000));
        assert_eq!(from_human_size("1k"), Ok(1000));
        assert_eq!(from_human_size("1.5KB"), Ok(1500));
        assert_eq!(from_human_size("2g"), Ok(2_000_000_000));
        assert_eq!(from_human_size("512"), Ok(512));
        assert_eq!(from_human_size("abc"), Err("invalid size: 'abc'".into()));
        assert_eq!(from_human_size("10x"), Err("invalid size: '10x'".into()));
    }

    #[test]
    fn rotation_and_errors_in_dockers_words() {
        assert_eq!(
            rotation(&cfg(&[("max-size", "10m"), ("max-file", "3")])),
            Ok(Rotation {
                max_size: Some(10_000_000),
                max_files: 3
            })
        );
        // max-file alone is accepted and has no effect, as in Docker.
        assert_eq!(rotation(&cfg(&[("max-file", "3")])).unwrap().max_size, None);
        assert_eq!(
            rotation(&cfg(&[("max-file", "0")])),
            Err("max-file cannot be less than 1".into())
        );
        assert_eq!(
            rotation(&cfg(&[("max-size", "0")])),
            Err("max-size must be a positive number".into())
        );
        assert_eq!(
            rotation(&cfg(&[("max-file", "x")])),
            Err("strconv.Atoi: parsing \"x\": invalid syntax".into())
        );
        assert_eq!(
            validate_keys(&cfg(&[("max-sise", "1m")])),
            Err("unknown log opt 'max-sise' for json-file log driver".into())
        );
        assert_eq!(
            validate_keys(&cfg(&[("tag", "x"), ("max-size", "1m")])),
            Ok(())
        );
    }
}
