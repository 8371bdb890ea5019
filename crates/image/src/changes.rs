//! `docker import --change` / `-c` instructions: a Dockerfile subset applied to the config of an
//! imported image.
//!
//! Supported: `CMD`, `ENTRYPOINT` (JSON array or shell form, the latter run by `/bin/sh -c`),
//! `ENV k=v ...` (or legacy `ENV k v`), `WORKDIR`, `USER`, `LABEL k=v ...`, `EXPOSE port[/proto]
//! ...`. Instructions are case-insensitive. Anything else is an error naming the line.

use std::collections::BTreeMap;

use api::image::{ContainerConfig, EmptyObject};

use crate::ImageError;

/// Config changes for an imported image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportChanges {
    /// `CMD`.
    pub cmd: Option<Vec<String>>,
    /// `ENTRYPOINT`.
    pub entrypoint: Option<Vec<String>>,
    /// `ENV`, as `KEY=value`.
    pub env: Vec<String>,
    /// `WORKDIR`.
    pub workdir: Option<String>,
    /// `USER`.
    pub user: Option<String>,
    /// `LABEL`.
    pub labels: BTreeMap<String, String>,
    /// `EXPOSE`, as `port/proto`.
    pub exposed_ports: Vec<String>,
    /// `VOLUME` paths.
    pub volumes: Vec<String>,
    /// `STOPSIGNAL`.
    pub stop_signal: Option<String>,
}

impl ImportChanges {
    /// Parses `--change` values, one instruction each.
    pub fn parse(lines: &[String]) -> Result<ImportChanges, ImageError> {
        let mut c = ImportChanges::default();
        for line in lines {
            c.parse_line(line)?;
        }
        Ok(c)
    }

    fn parse_line(&mut self, line: &str) -> Result<(), ImageError> {
        let bad = |reason: &str| ImageError::InvalidChange {
            line: line.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = line.trim();
        let (instr, rest) = match trimmed.split_once(char::is_whitespace) {
            Some((i, r)) => (i, r.trim()),
            None => (trimmed, ""),
        };
        if instr.is_empty() {
            return Err(bad("empty instruction"));
        }
        if rest.is_empty() {
            return Err(bad(&format!(
                "{} requires at least one argument",
                instr.to_uppercase()
            )));
        }
        match instr.to_ascii_uppercase().as_str() {
            "CMD" => self.cmd = Some(command(rest).map_err(|r| bad(&r))?),
            "ENTRYPOINT" => self.entrypoint = Some(command(rest).map_err(|r| bad(&r))?),
            "WORKDIR" => self.workdir = Some(rest.to_string()),
            "USER" => self.user = Some(rest.to_string()),
            "ENV" => {
                for (k, v) in pairs(rest, true).map_err(|r| bad(&r))? {
                    self.env
                        .retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k.as_str()));
                    self.env.push(format!("{k}={v}"));
                }
            }
            "LABEL" => {
                for (k, v) in pairs(rest, false).map_err(|r| bad(&r))? {
                    self.labels.insert(k, v);
                }
            }
            "EXPOSE" => {
                for p in rest.split_whitespace() {
                    let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                    let valid_port = !port.is_empty()
                        && port.split('-').all(|n| n.parse::<u16>().is_ok())
                        && port.split('-').count() <= 2;
                    if !valid_port || !matches!(proto, "tcp" | "udp" | "sctp") {
                        return Err(bad(&format!("invalid port {p:?}")));
                    }
                    self.exposed_ports.push(format!("{port}/{proto}"));
                }
            }
            "VOLUME" => {
                // JSON array or space-separated paths, as the Dockerfile instruction.
                let paths: Vec<String> = match serde_json::from_str::<Vec<String>>(rest) {
                    Ok(v) => v,
                    Err(_) => rest.split_whitespace().map(String::from).collect(),
                };
                if paths.iter().any(|p| p.is_empty()) {
                    return Err(bad("VOLUME specified can not be an empty string"));
                }
                self.volumes.extend(paths);
            }
            "STOPSIGNAL" => self.stop_signal = Some(rest.to_string()),
            other => return Err(bad(&format!("{other} is not a valid change command"))),
        }
        Ok(())
    }

    /// Applies the changes on top of `config`.
    pub fn apply_to(&self, config: &mut ContainerConfig) {
        if !self.volumes.is_empty() {
            let v = config.volumes.get_or_insert_with(Default::default);
            for p in &self.volumes {
                v.insert(p.clone(), Default::default());
            }
        }
        if let Some(s) = &self.stop_signal {
            config.stop_signal = Some(s.clone());
        }
        if let Some(c) = &self.cmd {
            config.cmd = Some(c.clone());
        }
        if let Some(e) = &self.entrypoint {
            config.entrypoint = Some(e.clone());
        }
        if !self.env.is_empty() {
            let env = config.env.get_or_insert_with(Vec::new);
            for kv in &self.env {
                let key = kv.split_once('=').map(|(k, _)| k).unwrap_or(kv);
                env.retain(|e| e.split_once('=').map(|(k, _)| k).unwrap_or(e) != key);
                env.push(kv.clone());
            }
        }
        if let Some(w) = &self.workdir {
            config.working_dir = Some(w.clone());
        }
        if let Some(u) = &self.user {
            config.user = Some(u.clone());
        }
        if !self.labels.is_empty() {
            config
                .labels
                .get_or_insert_with(BTreeMap::new)
                .extend(self.labels.clone());
        }
        if !self.exposed_ports.is_empty() {
            let ports = config.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in &self.exposed_ports {
                ports.insert(p.clone(), EmptyObject {});
            }
        }
    }
}

/// JSON-array form, or shell form wrapped in `/bin/sh -c`.
fn command(rest: &str) -> Result<Vec<String>, String> {
    if rest.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(rest) {
            return Ok(v);
        }
        // Docker falls back to shell form when the JSON does not parse.
    }
    Ok(vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        rest.to_string(),
    ])
}

/// `k=v k2="v 2"` pairs; with `legacy`, `k v w` (one pair, value = rest) is accepted too.
fn pairs(rest: &str, legacy: bool) -> Result<Vec<(String, String)>, String> {
    let words = split_words(rest)?;
    if !words.is_empty() && !words[0].contains('=') {
        if legacy {
            let (k, v) = rest
                .split_once(char::is_whitespace)
                .ok_or("missing value")?;
            return Ok(vec![(k.to_string(), v.trim().to_string())]);
        }
        return Err(format!("{:?} is not of the form key=value", words[0]));
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err("empty key".to_string()),
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(format!("{w:?} is not of the form key=value")),
        })
        .collect()
}

/// Splits on whitespace, honouring double and single quotes and backslash escapes, and
/// removing the quotes.
fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                cur.push(chars.next().ok_or("trailing backslash")?);
                in_word = true;
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".to_string());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&str]) -> Result<ImportChanges, ImageError> {
        ImportChanges::parse(&lines.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_docker_import_changes() {
        let c = parse(&[
            r#"CMD ["sh", "-c", "echo hi"]"#,
            "entrypoint /bin/init --x",
            "ENV A=1 B=\"two words\"",
            "ENV LEGACY some value",
            "ENV A=3",
            "WORKDIR /srv",
            "USER nobody",
            "LABEL org.x=y \"quoted key\"=z",
            "EXPOSE 80 53/udp 8000-8001",
        ])
        .unwrap();
        assert_eq!(c.cmd.as_deref().unwrap(), ["sh", "-c", "echo hi"]);
        assert_eq!(
            c.entrypoint.as_deref().unwrap(),
            ["/bin/sh", "-c", "/bin/init --x"]
        );
        assert_eq!(c.env, ["B=two words", "LEGACY=some value", "A=3"]);
        assert_eq!(c.workdir.as_deref(), Some("/srv"));
        assert_eq!(c.user.as_deref(), Some("nobody"));
        assert_eq!(c.labels.get("org.x").map(String::as_str), Some("y"));
        assert_eq!(c.labels.get("quoted key").map(String::as_str), Some("z"));
        assert_eq!(c.exposed_ports, ["80/tcp", "53/udp", "8000-8001/tcp"]);
        let mut cfg = ContainerConfig {
            env: Some(vec!["PATH=/bin".into(), "A=0".into()]),
            ..Default::default()
        };
        c.apply_to(&mut cfg);
        assert_eq!(
            cfg.env.unwrap(),
            ["PATH=/bin", "B=two words", "LEGACY=some value", "A=3"]
        );
        assert!(cfg.exposed_ports.unwrap().contains_key("53/udp"));
    }

    #[test]
    fn rejects_unknown_and_malformed_changes() {
        let table = [
            (
                "FROM busybox",
                "invalid change \"FROM busybox\": FROM is not a valid change command",
            ),
            (
                "CMD",
                "invalid change \"CMD\": CMD requires at least one argument",
            ),
            ("", "invalid change \"\": empty instruction"),
            (
                "EXPOSE 99999",
                "invalid change \"EXPOSE 99999\": invalid port \"99999\"",
            ),
            (
                "EXPOSE 80/xyz",
                "invalid change \"EXPOSE 80/xyz\": invalid port \"80/xyz\"",
            ),
            (
                "LABEL novalue",
                "invalid change \"LABEL novalue\": \"novalue\" is not of the form key=value",
            ),
            (
                "ENV A=\"open",
                "invalid change \"ENV A=\\\"open\": unterminated quote",
            ),
        ];
        for (line, want) in table {
            let err = parse(&[line]).unwrap_err();
            assert_eq!(err.to_string(), want);
            assert_eq!(err.kind(), api::ErrorKind::InvalidArgument);
        }
    }
}
