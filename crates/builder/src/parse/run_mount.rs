//! `RUN --mount=...` specs, parsed the way BuildKit parses them (a CSV record of `key=value`
//! fields; values stay unsubstituted until dispatch).

use super::instruction::{MountType, RunMount};

/// A minimal CSV field splitter (Go's `encoding/csv` for one record): commas separate,
/// double quotes group, `""` inside quotes is a quote.
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = s.chars().peekable();
    let mut in_quotes = false;
    let mut quoted_field = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            ',' => {
                out.push(std::mem::take(&mut field));
                quoted_field = false;
            }
            '"' if field.is_empty() && !quoted_field => {
                in_quotes = true;
                quoted_field = true;
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(format!(
            "failed to parse csv mounts: extraneous or missing \" in quoted-field: {s}"
        ));
    }
    out.push(field);
    Ok(out)
}

/// BuildKit's `--mount` parsing (values stay unsubstituted).
pub(crate) fn parse_mount(spec: &str) -> Result<RunMount, String> {
    let mut m = RunMount {
        kind: MountType::Bind,
        target: String::new(),
        source: None,
        from: None,
        id: None,
        sharing: None,
        read_only: true,
        mode: None,
        uid: None,
        gid: None,
        required: false,
    };
    let mut ro_explicit = false;
    let parse_bool = |v: &str| -> Result<bool, String> {
        match v.to_ascii_lowercase().as_str() {
            "1" | "t" | "true" => Ok(true),
            "0" | "f" | "false" => Ok(false),
            _ => Err(format!("invalid value for mount option: {v:?}")),
        }
    };
    for field in csv_fields(spec)? {
        let Some((key, value)) = field.split_once('=') else {
            match field.to_ascii_lowercase().as_str() {
                "readonly" | "ro" => {
                    m.read_only = true;
                    ro_explicit = true;
                }
                "readwrite" | "rw" => {
                    m.read_only = false;
                    ro_explicit = true;
                }
                "required" => m.required = true,
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        let value = value.to_string();
        match key.to_ascii_lowercase().as_str() {
            "type" => {
                m.kind = match value.to_ascii_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => return Err(format!("unsupported mount type {value:?}")),
                }
            }
            "from" => m.from = Some(value),
            "source" | "src" => m.source = Some(value),
            "target" | "dst" | "destination" => m.target = value,
            "readonly" | "ro" => {
                m.read_only = parse_bool(&value)?;
                ro_explicit = true;
            }
            "readwrite" | "rw" => {
                m.read_only = !parse_bool(&value)?;
                ro_explicit = true;
            }
            "required" => m.required = parse_bool(&value)?,
            "id" => m.id = Some(value),
            "sharing" => {
                let v = value.to_ascii_lowercase();
                if !["shared", "private", "locked"].contains(&v.as_str()) {
                    return Err(format!("unsupported sharing value {value:?}"));
                }
                m.sharing = Some(v);
            }
            "mode" => {
                m.mode = Some(
                    u32::from_str_radix(&value, 8)
                        .map_err(|_| format!("invalid value {value} for mode"))?,
                )
            }
            "uid" => {
                m.uid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value} for uid"))?,
                )
            }
            "gid" => {
                m.gid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value} for gid"))?,
                )
            }
            other => return Err(format!("unexpected key '{other}' in '{field}'")),
        }
    }
    if !ro_explicit {
        m.read_only = !matches!(m.kind, MountType::Cache | MountType::Tmpfs);
    }
    if m.sharing.is_some() && m.kind != MountType::Cache {
        return Err(format!(
            "invalid cache sharing set for {} mount",
            m.kind.name()
        ));
    }
    let owner_allowed = matches!(
        m.kind,
        MountType::Cache | MountType::Secret | MountType::Ssh
    );
    if !owner_allowed && (m.mode.is_some() || m.uid.is_some() || m.gid.is_some()) {
        return Err(format!(
            "mode/uid/gid not allowed for {:?} type mounts",
            m.kind.name()
        ));
    }
    if m.required && !matches!(m.kind, MountType::Secret | MountType::Ssh) {
        return Err(format!(
            "unexpected key 'required' for mount type '{}'",
            m.kind.name()
        ));
    }
    if m.target.is_empty() {
        match m.kind {
            MountType::Secret => {
                let id = m.id.clone().or_else(|| {
                    m.source
                        .as_deref()
                        .map(|s| s.rsplit('/').next().unwrap_or(s).to_string())
                });
                match id {
                    Some(id) if !id.is_empty() => m.target = format!("/run/secrets/{id}"),
                    _ => return Err("one of source, target required".to_string()),
                }
            }
            MountType::Ssh => {}
            _ => return Err(format!("mount type {} requires a target", m.kind.name())),
        }
    }
    Ok(m)
}
