//! Human renderings shared by the commands, matching docker's (go-units and docker/cli's
//! formatter): sizes, durations, truncated ids and commands, and tabwriter-aligned tables.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// Formats `value` like Go's `%.{precision}g`.
pub fn format_g(value: f64, precision: usize) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    let exp = value.abs().log10().floor() as i32;
    // Round first: 999.7 at precision 3 becomes 1000, which moves the exponent.
    let sci = format!("{:.*e}", precision.saturating_sub(1), value);
    let (mantissa, e) = sci.split_once('e').unwrap_or((&sci, "0"));
    let e: i32 = e.parse().unwrap_or(exp);
    if e < -4 || e >= precision as i32 {
        let m = trim_zeros(mantissa);
        let sign = if e < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", e.abs());
    }
    let decimals = (precision as i32 - 1 - e).max(0) as usize;
    trim_zeros(&format!("{value:.decimals$}"))
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

fn custom_size(size: f64, precision: usize, base: f64, units: &[&str]) -> String {
    let mut size = size;
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    format!("{}{}", format_g(size, precision), units[i])
}

/// go-units `HumanSizeWithPrecision`: decimal units, `1.98MB`.
pub fn human_size(bytes: f64, precision: usize) -> String {
    custom_size(bytes, precision, 1000.0, &DECIMAL_UNITS)
}

/// go-units `BytesSize`: binary units with 4 significant digits, `7.764GiB`.
pub fn bytes_size(bytes: f64) -> String {
    custom_size(bytes, 4, 1024.0, &BINARY_UNITS)
}

/// go-units `HumanDuration`.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    if seconds < 1 {
        return "Less than a second".to_string();
    }
    if seconds == 1 {
        return "1 second".to_string();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".to_string();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (d.as_secs_f64() / 3600.0 + 0.5) as u64;
    if hours == 1 {
        return "About an hour".to_string();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", seconds / 3600 / 24 / 365)
}

/// "5 seconds ago" for a Unix timestamp, relative to `now`.
pub fn ago(unix: i64, now: SystemTime) -> String {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let delta = Duration::from_secs(now.saturating_sub(unix).max(0) as u64);
    format!("{} ago", human_duration(delta))
}

/// docker/cli `Ellipsis`: at most `max` characters, the last one `…` when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    let count = s.chars().count();
    if count <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// The 12-character short form of an id, without any `sha256:` prefix.
pub fn short_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(12).collect()
}

/// Go's `strconv.Quote` for the printable strings docker shows (quotes `"` and `\`).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Aligns tab-separated lines like Go's `tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)`, which
/// docker uses for every table: a cell ended by a tab is padded to its column's width (widest
/// cell + 3, at least 10); the last cell of a line is written as is.
pub fn tabwrite(text: &str) -> String {
    const MIN_WIDTH: usize = 10;
    const PADDING: usize = 3;
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &lines {
        for (i, cell) in cells.iter().enumerate().take(cells.len().saturating_sub(1)) {
            let w = (cell.chars().count() + PADDING).max(MIN_WIDTH);
            if widths.len() <= i {
                widths.resize(i + 1, 0);
            }
            widths[i] = widths[i].max(w);
        }
    }
    let mut out = String::with_capacity(text.len() * 2);
    for (n, cells) in lines.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let last = cells.len() - 1;
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count();
                out.push_str(&" ".repeat(pad));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_go_units() {
        assert_eq!(human_size(1_982_319.0, 3), "1.98MB");
        assert_eq!(human_size(5_969_000.0, 4), "5.969MB");
        assert_eq!(human_size(0.0, 3), "0B");
        assert_eq!(human_size(999.0, 3), "999B");
        assert_eq!(human_size(1000.0, 3), "1kB");
        assert_eq!(human_size(4_862_000_000.0, 3), "4.86GB");
        assert_eq!(human_size(12_345.0, 3), "12.3kB");
        assert_eq!(bytes_size(8_336_605_184.0), "7.764GiB");
        assert_eq!(bytes_size(1024.0), "1KiB");
    }

    #[test]
    fn go_g_format() {
        assert_eq!(format_g(1.0, 3), "1");
        assert_eq!(format_g(123.4, 3), "123");
        assert_eq!(format_g(999.7, 3), "1e+03");
        assert_eq!(format_g(0.5, 3), "0.5");
    }

    #[test]
    fn durations_match_go_units() {
        let s = Duration::from_secs;
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(5)), "5 seconds");
        assert_eq!(human_duration(s(60)), "About a minute");
        assert_eq!(human_duration(s(119)), "About a minute");
        assert_eq!(human_duration(s(120)), "2 minutes");
        assert_eq!(human_duration(s(3600)), "About an hour");
        assert_eq!(human_duration(s(3 * 3600)), "3 hours");
        assert_eq!(human_duration(s(3 * 86400)), "3 days");
        assert_eq!(human_duration(s(21 * 86400)), "3 weeks");
        assert_eq!(human_duration(s(90 * 86400)), "3 months");
        assert_eq!(human_duration(s(3 * 365 * 86400)), "3 years");
        let now = UNIX_EPOCH + s(1000);
        assert_eq!(ago(995, now), "5 seconds ago");
    }

    #[test]
    fn ellipsis_and_quote() {
        assert_eq!(ellipsis("echo hi", 20), "echo hi");
        assert_eq!(
            ellipsis("sh -c 'while true; do sleep 1; done'", 20),
            "sh -c 'while true; …"
        );
        assert_eq!(go_quote("sh -c \"x\""), "\"sh -c \\\"x\\\"\"");
        assert_eq!(short_id("sha256:83b2f4d0c1a9e2aa11"), "83b2f4d0c1a9");
    }

    #[test]
    fn tabwriter_pads_like_docker() {
        let t = tabwrite("CONTAINER ID\tIMAGE\tNAMES\nabc\tbusybox\tweb");
        assert_eq!(
            t,
            "CONTAINER ID   IMAGE     NAMES\nabc            busybox   web"
        );
    }
}

/// How a list command renders its rows (`--format`, `-q`), after docker/cli's formatter.
pub enum ListFormat {
    /// A table with a header row, built from a template with tab-separated fields.
    Table(String),
    /// One JSON object per line.
    Json,
    /// A template per row, no header.
    Raw(String),
}

impl ListFormat {
    /// Picks the format: `--format` if given, else `-q`'s template, else the default table.
    pub fn choose(format: Option<&str>, quiet: Option<&str>, default_table: &str) -> ListFormat {
        let unescape = |s: &str| s.replace("\\t", "\t").replace("\\n", "\n");
        match format.map(str::trim) {
            Some("json") => ListFormat::Json,
            Some("table") | Some("") | None => match quiet {
                Some(q) if format.is_none() => ListFormat::Raw(q.to_string()),
                _ => ListFormat::Table(
                    default_table
                        .strip_prefix("table ")
                        .unwrap_or(default_table)
                        .to_string(),
                ),
            },
            Some(f) => match f.strip_prefix("table") {
                Some(rest) if rest.starts_with(char::is_whitespace) => {
                    ListFormat::Table(unescape(rest.trim()))
                }
                _ => ListFormat::Raw(unescape(f)),
            },
        }
    }

    /// The fields the rows need: `Some` when the template only prints plain `{{.Field}}`
    /// actions (the default tables, `-q`), `None` when it may look at anything (`json`, pipes,
    /// functions, `{{json .}}`). Lets callers skip computing columns nobody prints.
    pub fn plain_fields(&self) -> Option<Vec<&str>> {
        Some(
            self.plain_segments()?
                .into_iter()
                .filter_map(|s| match s {
                    Segment::Field(f) => Some(f),
                    Segment::Text(_) => None,
                })
                .collect(),
        )
    }

    /// The template as literal text and plain `{{.Field}}` actions, when that is all it is.
    fn plain_segments(&self) -> Option<Vec<Segment<'_>>> {
        let t = match self {
            ListFormat::Json => return None,
            ListFormat::Table(t) | ListFormat::Raw(t) => t,
        };
        let mut out = Vec::new();
        let mut rest = t.as_str();
        while let Some(i) = rest.find("{{") {
            if i > 0 {
                out.push(Segment::Text(&rest[..i]));
            }
            let after = &rest[i + 2..];
            let end = after.find("}}")?;
            let action = after[..end].trim();
            let name = action.strip_prefix('.')?;
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return None;
            }
            out.push(Segment::Field(name));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            out.push(Segment::Text(rest));
        }
        Some(out)
    }

    /// Renders the rows (each a JSON object of the formatter's string fields) to the text to
    /// print, aligned like docker's tabwriter, ending with a newline unless empty.
    pub fn render(
        &self,
        fields: &[&str],
        headers: &serde_json::Value,
        rows: &[serde_json::Value],
    ) -> Result<String, crate::template::TemplateError> {
        use crate::template::Template;
        let mut lines = Vec::new();
        match self {
            ListFormat::Json => {
                for r in rows {
                    lines.push(serde_json::to_string(r).expect("rows are plain JSON"));
                }
                let mut out = lines.join("\n");
                if !out.is_empty() {
                    out.push('\n');
                }
                return Ok(out);
            }
            ListFormat::Table(t) | ListFormat::Raw(t) => {
                // Parsed even when the plain path prints, for its errors (unknown fields).
                let tpl = Template::parse(t, Some(fields))?;
                let plain = self.plain_segments();
                let render = |r: &serde_json::Value| match plain.as_deref().and_then(|p| fill(p, r))
                {
                    Some(line) => Ok(line),
                    None => tpl.render(r),
                };
                if matches!(self, ListFormat::Table(_)) {
                    lines.push(render(headers)?);
                }
                for r in rows {
                    lines.push(render(r)?);
                }
            }
        }
        if lines.is_empty() {
            return Ok(String::new());
        }
        let mut out = tabwrite(&lines.join("\n"));
        out.push('\n');
        Ok(out)
    }
}

/// A piece of a plain template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment<'a> {
    /// Printed as is.
    Text(&'a str),
    /// `{{.Field}}`.
    Field(&'a str),
}

/// A plain template filled from a row whose fields are all strings (what `{{.Field}}` prints
/// of a string is the string); `None` sends the row through the template engine.
fn fill(segments: &[Segment], row: &serde_json::Value) -> Option<String> {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Text(t) => out.push_str(t),
            Segment::Field(f) => out.push_str(row.get(*f)?.as_str()?),
        }
    }
    Some(out)
}

/// A Unix time as Go's `time.Time.String()` in UTC: `2026-11-23 05:24:25 +0000 UTC`.
pub fn go_time_string(unix: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64);
    let s = api::time::rfc3339_nano(t);
    format!("{} {} +0000 UTC", &s[..10], &s[11..19])
}

#[cfg(test)]
mod list_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_fields_only_for_plain_templates() {
        let t = ListFormat::choose(None, None, "table {{.ID}}\t{{.Names}}");
        assert_eq!(t.plain_fields(), Some(vec!["ID", "Names"]));
        let q = ListFormat::choose(None, Some("{{.ID}}"), "table {{.ID}}");
        assert_eq!(q.plain_fields(), Some(vec!["ID"]));
        for f in [
            "json",
            "{{json .}}",
            "{{.Names | upper}}",
            "{{ .Label \"a\" }}",
            "{{.ID",
        ] {
            assert_eq!(
                ListFormat::choose(Some(f), None, "").plain_fields(),
                None,
                "{f}"
            );
        }
    }

    #[test]
    fn plain_templates_print_as_the_template_engine_does() {
        let fields = ["ID", "Names", "Size"];
        let headers = json!({"ID": "CONTAINER ID", "Names": "NAMES", "Size": "SIZE"});
        let rows = vec![
            json!({"ID": "abc", "Names": "web", "Size": "1B"}),
            json!({"ID": "d\te", "Names": "x", "Size": 3}),
        ];
        for f in [
            "table {{.ID}}\t{{.Names}}",
            "{{.ID}}: {{.Names}}!",
            "{{ .Size }}/{{.ID}}",
            "table {{.Size}}",
        ] {
            let fast = ListFormat::choose(Some(f), None, "");
            assert!(fast.plain_segments().is_some(), "{f}");
            let t = f.strip_prefix("table ").unwrap_or(f);
            let tpl = crate::template::Template::parse(t, Some(&fields)).unwrap();
            let mut want: Vec<String> = Vec::new();
            if f.starts_with("table") {
                want.push(tpl.render(&headers).unwrap());
            }
            for r in &rows {
                want.push(tpl.render(r).unwrap());
            }
            let want = format!("{}\n", tabwrite(&want.join("\n")));
            assert_eq!(fast.render(&fields, &headers, &rows).unwrap(), want, "{f}");
        }
        let bad = ListFormat::choose(Some("{{.Nope}}"), None, "");
        assert!(bad.render(&fields, &headers, &rows).is_err());
    }

    #[test]
    fn table_quiet_json_and_raw() {
        let fields = ["ID", "Names"];
        let headers = json!({"ID": "CONTAINER ID", "Names": "NAMES"});
        let rows = vec![json!({"ID": "abc", "Names": "web"})];
        let t = ListFormat::choose(None, Some("{{.ID}}"), "table {{.ID}}\t{{.Names}}");
        assert_eq!(t.render(&fields, &headers, &rows).unwrap(), "abc\n");
        let t = ListFormat::choose(None, None, "table {{.ID}}\t{{.Names}}");
        assert_eq!(
            t.render(&fields, &headers, &rows).unwrap(),
            "CONTAINER ID   NAMES\nabc            web\n"
        );
        let t = ListFormat::choose(Some("table {{.Names}}\\t{{.ID}}"), None, "");
        assert_eq!(
            t.render(&fields, &headers, &rows).unwrap(),
            "NAMES     CONTAINER ID\nweb       abc\n"
        );
        let t = ListFormat::choose(Some("json"), None, "");
        assert_eq!(
            t.render(&fields, &headers, &rows).unwrap(),
            "{\"ID\":\"abc\",\"Names\":\"web\"}\n"
        );
        let t = ListFormat::choose(Some("{{.Names}}"), Some("{{.ID}}"), "");
        assert_eq!(t.render(&fields, &headers, &rows).unwrap(), "web\n");
        let t = ListFormat::choose(Some("{{.Bogus}}"), None, "");
        assert!(t.render(&fields, &headers, &rows).is_err());
    }

    #[test]
    fn go_time() {
        assert_eq!(go_time_string(0), "1970-01-01 00:00:00 +0000 UTC");
    }
}
