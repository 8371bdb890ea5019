//! Parsers for flag values, matching docker/cli and go-units wording so error messages read the
//! same: memory sizes, CPU counts, env files, labels, filters, restart policies, security options.

use std::collections::BTreeMap;
use std::path::Path;

pub use api::units::ram_in_bytes;

/// docker's `--cpus`: a decimal number of CPUs, converted exactly to nano-CPUs.
pub fn nano_cpus(s: &str) -> Result<i64, String> {
    let rational = || format!("failed to parse {s} as a rational number");
    let t = s.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(rational());
    }
    let frac_trimmed = frac.trim_end_matches('0');
    if frac_trimmed.len() > 9 {
        return Err("value is too precise".to_string());
    }
    let int: i64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| rational())?
    };
    let mut nanos: i64 = 0;
    if !frac_trimmed.is_empty() {
        nanos = format!("{frac_trimmed:0<9}")
            .parse()
            .map_err(|_| rational())?;
    }
    let total = int
        .checked_mul(1_000_000_000)
        .and_then(|v| v.checked_add(nanos))
        .ok_or_else(rational)?;
    Ok(if neg { -total } else { total })
}

/// docker's `ValidateEnv` for `-e`: `K=V` as is, bare `K` filled from `lookup` when set.
pub fn env_value(s: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let (key, _) = s.split_once('=').unwrap_or((s, ""));
    if key.is_empty() {
        return Err(format!("invalid environment variable: {s}"));
    }
    if s.contains('=') {
        return Ok(s.to_string());
    }
    Ok(match lookup(s) {
        Some(v) => format!("{s}={v}"),
        None => s.to_string(),
    })
}

/// docker's env-file format: `KEY=VALUE` lines, `#` comments, blank lines, bare `KEY` taken from
/// `lookup` (and dropped when unset); keys may not contain whitespace.
pub fn parse_env_file(
    name: &str,
    content: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (n, raw) in content.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        if key.is_empty() {
            return Err(format!(
                "invalid environment variable: {line} (line {} of {name})",
                n + 1
            ));
        }
        if key.contains(char::is_whitespace) {
            return Err(format!("variable '{key}' contains whitespaces"));
        }
        match value {
            Some(v) => out.push(format!("{key}={v}")),
            None => {
                let key = key.trim();
                if let Some(v) = lookup(key) {
                    out.push(format!("{key}={v}"));
                }
            }
        }
    }
    Ok(out)
}

/// Reads the env files, then the `-e` values, in docker's order (files first).
pub fn read_env(files: &[String], vars: &[String]) -> Result<Vec<String>, String> {
    let lookup = |k: &str| std::env::var(k).ok();
    let mut env = Vec::new();
    for f in files {
        let content = std::fs::read_to_string(f).map_err(|e| format!("open {f}: {e}"))?;
        env.extend(parse_env_file(f, &content, lookup)?);
    }
    for v in vars {
        env.push(env_value(v, lookup)?);
    }
    Ok(env)
}

/// docker's capability normalisation: upper case, `CAP_` prefix, `ALL` kept as is, no
/// duplicates; `None` when empty (sent as `null`).
pub fn capabilities(values: &[String]) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        let up = v.trim().to_uppercase();
        let cap = if up == "ALL" || up.starts_with("CAP_") {
            up
        } else {
            format!("CAP_{up}")
        };
        if !out.contains(&cap) {
            out.push(cap);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `--label k=v` / `--label k` into docker's label map.
pub fn labels(values: &[String]) -> BTreeMap<String, String> {
    values
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

/// `--filter k=v` values as docker's JSON map of maps (`{"status":{"running":true}}`), or
/// `None` when there are no filters.
pub fn filters_json(values: &[String]) -> Result<Option<String>, String> {
    if values.is_empty() {
        return Ok(None);
    }
    let mut map: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for f in values {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| format!("bad format of filter (expected name=value): {f}"))?;
        map.entry(k.trim().to_lowercase())
            .or_default()
            .insert(v.trim().to_string(), true);
    }
    Ok(Some(
        serde_json::to_string(&map).expect("maps of strings always encode"),
    ))
}

/// docker's restart policy: `no`, `always`, `unless-stopped`, `on-failure[:N]`.
pub fn restart_policy(s: &str) -> Result<(String, i64), String> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (s, None),
    };
    match (name, count) {
        ("" | "no" | "always" | "unless-stopped", None) => Ok((name.to_string(), 0)),
        ("on-failure", None) => Ok((name.to_string(), 0)),
        ("on-failure", Some(c)) => c
            .parse::<i64>()
            .map(|n| (name.to_string(), n))
            .map_err(|_| format!("maximum retry count must be an integer: {c:?}")),
        ("always" | "unless-stopped" | "no", Some(_)) => Err(format!(
            "maximum retry count cannot be used with restart policy '{name}'"
        )),
        _ => Err(format!("invalid restart policy '{name}'")),
    }
}

/// docker's `--security-opt` handling: `seccomp=PATH` is read client-side and sent compacted as
/// `seccomp=<json>`; `seccomp=unconfined` and other options pass through.
pub fn security_opts(values: &[String]) -> Result<Option<Vec<String>>, String> {
    if values.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for opt in values {
        let split = opt.split_once('=').or_else(|| opt.split_once(':'));
        match split {
            Some(("seccomp", v)) if v != "unconfined" => {
                let content = std::fs::read(Path::new(v))
                    .map_err(|e| format!("opening seccomp profile ({v}) failed: {e}"))?;
                let compact = compact_json(&content).map_err(|e| {
                    format!("compacting json for seccomp profile ({v}) failed: {e}")
                })?;
                out.push(format!("seccomp={compact}"));
            }
            Some(("seccomp", v)) => out.push(format!("seccomp={v}")),
            _ => out.push(opt.clone()),
        }
    }
    Ok(Some(out))
}

/// Go's `json.Compact`: drops insignificant whitespace, keeps key order and string bytes.
pub fn compact_json(input: &[u8]) -> Result<String, String> {
    serde_json::from_slice::<serde::de::IgnoredAny>(input).map_err(|e| e.to_string())?;
    let text = std::str::from_utf8(input).map_err(|e| e.to_string())?;
    let mut out = String::with_capacity(text.len());
    let mut in_str = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    Ok(out)
}

/// Go's `json.Indent` with docker inspect's layout: keeps key order, leaves `{}`/`[]` compact.
pub fn indent_json(input: &[u8], prefix: &str, indent: &str) -> Result<String, String> {
    let compact = compact_json(input)?;
    let mut out = String::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    let chars: Vec<char> = compact.chars().collect();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(prefix);
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                if chars.get(i + 1) == Some(&close) {
                    out.push(c);
                    out.push(close);
                    i += 2;
                    continue;
                }
                out.push(c);
                depth += 1;
                newline(&mut out, depth);
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

/// Docker's `Are you sure you want to continue? [y/N]` after `warning`; false unless the user
/// answers y or yes (no terminal input counts as no).
pub fn confirm(warning: &str) -> std::io::Result<bool> {
    use std::io::{BufRead, Write};
    let mut err = std::io::stderr();
    write!(err, "{warning}\nAre you sure you want to continue? [y/N] ")?;
    err.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let a = line.trim().to_ascii_lowercase();
    Ok(a == "y" || a == "yes")
}

/// The fields of a `--mount` value, read as one CSV record as docker's CLI does: a field in
/// double quotes may hold commas (`"volume-opt=o=size=1m,uid=1000"`), `""` is a quote.
fn csv_fields(spec: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = spec.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' if quoted => quoted = false,
            '"' if field.is_empty() => quoted = true,
            ',' if !quoted => out.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    if quoted {
        return Err(format!("invalid argument \"{spec}\" for \"--mount\" flag: extraneous or missing \" in quoted-field"));
    }
    out.push(field);
    Ok(out)
}

/// One `--mount` value (`type=bind,source=/a,target=/b,readonly`) as the API's mount object.
pub fn mount_spec(spec: &str) -> Result<serde_json::Value, String> {
    use serde_json::json;
    let mut kind = "volume".to_string();
    let (mut source, mut target) = (String::new(), String::new());
    let mut read_only = false;
    let mut bind = serde_json::Map::new();
    let mut volume = serde_json::Map::new();
    let mut labels = serde_json::Map::new();
    let mut tmpfs = serde_json::Map::new();
    let truthy = |v: &str| -> Result<bool, String> {
        match v {
            "" | "1" | "true" => Ok(true),
            "0" | "false" => Ok(false),
            _ => Err(format!("invalid value for readonly: {v}")),
        }
    };
    let mut driver = serde_json::Map::new();
    let mut driver_opts = serde_json::Map::new();
    for field in csv_fields(spec)?.iter().filter(|f| !f.is_empty()) {
        let field = field.as_str();
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        match k.to_ascii_lowercase().as_str() {
            "type" => kind = v.to_string(),
            "source" | "src" => source = v.to_string(),
            "target" | "destination" | "dst" => target = v.to_string(),
            "readonly" | "ro" => read_only = truthy(v)?,
            "bind-propagation" => {
                bind.insert("Propagation".into(), json!(v));
            }
            "bind-create-src" => {
                bind.insert("CreateMountpoint".into(), json!(truthy(v)?));
            }
            "volume-nocopy" => {
                volume.insert("NoCopy".into(), json!(truthy(v)?));
            }
            "volume-label" => {
                let (lk, lv) = v.split_once('=').unwrap_or((v, ""));
                labels.insert(lk.into(), json!(lv));
            }
            "volume-driver" => {
                driver.insert("Name".into(), json!(v));
            }
            "volume-opt" => {
                let (ok, ov) = v.split_once('=').unwrap_or((v, ""));
                driver_opts.insert(ok.into(), json!(ov));
            }
            "tmpfs-size" => {
                tmpfs.insert("SizeBytes".into(), json!(ram_in_bytes(v)?));
            }
            "tmpfs-mode" => {
                let mode =
                    u32::from_str_radix(v, 8).map_err(|_| format!("invalid tmpfs-mode {v:?}"))?;
                tmpfs.insert("Mode".into(), json!(mode));
            }
            "consistency" => {}
            _ => return Err(format!("unexpected key '{k}' in '{field}'")),
        }
    }
    if target.is_empty() {
        return Err("target is required".into());
    }
    if !["bind", "volume", "tmpfs"].contains(&kind.as_str()) {
        return Err(format!("invalid mount type: {kind:?}"));
    }
    if !labels.is_empty() {
        volume.insert("Labels".into(), serde_json::Value::Object(labels));
    }
    if !driver_opts.is_empty() {
        driver.insert("Options".into(), serde_json::Value::Object(driver_opts));
    }
    if !driver.is_empty() {
        volume.insert("DriverConfig".into(), serde_json::Value::Object(driver));
    }
    let mut m = json!({"Type": kind, "Source": source, "Target": target, "ReadOnly": read_only});
    if !bind.is_empty() {
        m["BindOptions"] = serde_json::Value::Object(bind);
    }
    if !volume.is_empty() {
        m["VolumeOptions"] = serde_json::Value::Object(volume);
    }
    if !tmpfs.is_empty() {
        m["TmpfsOptions"] = serde_json::Value::Object(tmpfs);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_volume_driver_options_read_as_csv() {
        let m = mount_spec(
            "type=volume,src=v,dst=/d,volume-driver=local,\"volume-opt=o=size=1m,uid=7\",volume-opt=type=tmpfs,volume-opt=device=tmpfs",
        )
        .unwrap();
        assert_eq!(
            m["VolumeOptions"]["DriverConfig"],
            serde_json::json!({"Name": "local", "Options": {"o": "size=1m,uid=7", "type": "tmpfs", "device": "tmpfs"}})
        );
        assert_eq!(m["Target"], "/d");
        assert_eq!(
            csv_fields("a,\"b,c\",\"d\"\"e\"").unwrap(),
            ["a", "b,c", "d\"e"]
        );
        assert!(csv_fields("a,\"b").is_err());
    }

    #[test]
    fn cpus_become_nano_cpus() {
        assert_eq!(nano_cpus("1.5"), Ok(1_500_000_000));
        assert_eq!(nano_cpus("0.25"), Ok(250_000_000));
        assert_eq!(nano_cpus("2"), Ok(2_000_000_000));
        assert_eq!(
            nano_cpus("abc"),
            Err("failed to parse abc as a rational number".to_string())
        );
        assert_eq!(
            nano_cpus("0.0000000001"),
            Err("value is too precise".to_string())
        );
    }

    #[test]
    fn env_values_and_files() {
        let lookup = |k: &str| (k == "HOME").then(|| "/root".to_string());
        assert_eq!(env_value("A=1", lookup), Ok("A=1".to_string()));
        assert_eq!(env_value("HOME", lookup), Ok("HOME=/root".to_string()));
        assert_eq!(env_value("UNSET", lookup), Ok("UNSET".to_string()));
        assert!(env_value("=x", lookup).is_err());
        let file = "# comment\n\nA=1\n  B=two words\nHOME\nUNSET\nC=\n";
        assert_eq!(
            parse_env_file("f", file, lookup).unwrap(),
            vec!["A=1", "B=two words", "HOME=/root", "C="]
        );
        assert_eq!(
            parse_env_file("f", "BAD KEY=1\n", lookup).unwrap_err(),
            "variable 'BAD KEY' contains whitespaces"
        );
    }

    #[test]
    fn filters_are_map_of_maps() {
        let f = filters_json(&[
            "name=cap".into(),
            "status=running".into(),
            "status=exited".into(),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            f,
            r#"{"name":{"cap":true},"status":{"exited":true,"running":true}}"#
        );
        assert_eq!(filters_json(&[]).unwrap(), None);
        assert!(filters_json(&["bogus".into()]).is_err());
    }

    #[test]
    fn capabilities_are_normalised_like_docker() {
        assert_eq!(
            capabilities(&[
                "all".into(),
                "sys_admin".into(),
                "CAP_CHOWN".into(),
                "SYS_ADMIN".into()
            ]),
            Some(vec![
                "ALL".to_string(),
                "CAP_SYS_ADMIN".to_string(),
                "CAP_CHOWN".to_string()
            ])
        );
        assert_eq!(capabilities(&[]), None);
    }

    #[test]
    fn restart_policies() {
        assert_eq!(restart_policy("always"), Ok(("always".into(), 0)));
        assert_eq!(restart_policy("on-failure:3"), Ok(("on-failure".into(), 3)));
        assert!(restart_policy("sometimes").is_err());
        assert!(restart_policy("always:3").is_err());
    }

    #[test]
    fn json_compact_and_indent_keep_order() {
        let raw = br#"{ "z": 1, "a": { }, "s": "x, y: {z}", "l": [1, 2] }"#;
        assert_eq!(
            compact_json(raw).unwrap(),
            r#"{"z":1,"a":{},"s":"x, y: {z}","l":[1,2]}"#
        );
        assert_eq!(
            indent_json(br#"{"a":{},"b":[1,2]}"#, "", "  ").unwrap(),
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    2\n  ]\n}"
        );
        assert!(compact_json(b"{nope").is_err());
    }

    #[test]
    fn seccomp_profile_is_read_and_compacted() {
        let dir = std::env::temp_dir().join(format!("berth-cli-seccomp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("p.json");
        std::fs::write(&p, "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n").unwrap();
        let opts = security_opts(&[
            format!("seccomp={}", p.display()),
            "no-new-privileges".into(),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            opts,
            vec![
                r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#.to_string(),
                "no-new-privileges".to_string()
            ]
        );
        assert_eq!(
            security_opts(&["seccomp=unconfined".into()])
                .unwrap()
                .unwrap(),
            vec!["seccomp=unconfined"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
