//! The subset of Go's text/template that docker's `--format` users rely on, evaluated over JSON:
//! `{{.Field.Sub}}`, `{{.}}`, `{{json .X}}`, `{{upper .X}}`, `{{lower .X}}`, `{{join .X ","}}`,
//! `{{len .X}}`, pipes (`{{.X | json}}`) and `{{-`/`-}}` trimming. `range` and `if` are not
//! supported and are rejected with a clear error.

use std::fmt;

use serde_json::Value;

/// Why a template could not be parsed or executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "template parsing error: {}", self.0)
    }
}

impl std::error::Error for TemplateError {}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Path(Vec<String>),
    Str(String),
}

#[derive(Debug, Clone, PartialEq)]
struct Call {
    func: Option<String>,
    args: Vec<Arg>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Action(Vec<Call>),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

const FUNCS: [&str; 7] = ["json", "upper", "lower", "join", "len", "title", "println"];

impl Template {
    /// Parses `src`. `fields`, when given, lists the valid top-level fields (docker's formatter
    /// contexts); an unknown one is an error naming the valid ones.
    pub fn parse(src: &str, fields: Option<&[&str]>) -> Result<Template, TemplateError> {
        let mut nodes = Vec::new();
        let mut rest = src;
        let mut trim_next_text = false;
        while let Some(start) = rest.find("{{") {
            let mut text = rest[..start].to_string();
            if trim_next_text {
                text = text.trim_start().to_string();
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| TemplateError(format!("unclosed action in {src:?}")))?;
            let mut inner = &after[..end];
            if let Some(s) = inner.strip_prefix('-') {
                if s.starts_with(char::is_whitespace) {
                    text = text.trim_end().to_string();
                    inner = s;
                }
            }
            trim_next_text = false;
            if let Some(s) = inner.strip_suffix('-') {
                if s.ends_with(char::is_whitespace) {
                    trim_next_text = true;
                    inner = s;
                }
            }
            if !text.is_empty() {
                nodes.push(Node::Text(text));
            }
            nodes.push(Node::Action(parse_action(inner.trim(), fields)?));
            rest = &after[end + 2..];
        }
        let mut text = rest.to_string();
        if trim_next_text {
            text = text.trim_start().to_string();
        }
        if !text.is_empty() {
            nodes.push(Node::Text(text));
        }
        Ok(Template { nodes })
    }

    /// Renders the template against `data`.
    pub fn render(&self, data: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        for node in &self.nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Action(calls) => {
                    let mut piped: Option<Value> = None;
                    for call in calls {
                        piped = Some(eval_call(call, data, piped)?);
                    }
                    if let Some(v) = piped {
                        out.push_str(&go_print(&v));
                    }
                }
            }
        }
        Ok(out)
    }
}

fn parse_action(src: &str, fields: Option<&[&str]>) -> Result<Vec<Call>, TemplateError> {
    if src.is_empty() {
        return Err(TemplateError("missing value for command".to_string()));
    }
    let mut calls = Vec::new();
    for part in split_pipes(src) {
        let words = split_words(part.trim())?;
        let Some(first) = words.first() else {
            return Err(TemplateError(format!("missing command in {src:?}")));
        };
        let (func, args) = if first.starts_with('.') || first.starts_with('"') {
            (None, &words[..])
        } else if FUNCS.contains(&first.as_str()) {
            (Some(first.clone()), &words[1..])
        } else {
            return Err(TemplateError(format!(
                "function {first:?} not supported (supported: {})",
                FUNCS.join(", ")
            )));
        };
        let mut parsed = Vec::new();
        for a in args {
            if let Some(s) = a.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                parsed.push(Arg::Str(s.replace("\\n", "\n").replace("\\t", "\t")));
            } else if a == "." {
                parsed.push(Arg::Path(Vec::new()));
            } else if let Some(p) = a.strip_prefix('.') {
                let path: Vec<String> = p.split('.').map(str::to_string).collect();
                if let (Some(valid), Some(top)) = (fields, path.first()) {
                    if !valid.contains(&top.as_str()) {
                        return Err(TemplateError(format!(
                            "field {top} is not valid; valid fields are: {}",
                            valid.join(", ")
                        )));
                    }
                }
                parsed.push(Arg::Path(path));
            } else {
                return Err(TemplateError(format!("unexpected {a:?} in action")));
            }
        }
        calls.push(Call { func, args: parsed });
    }
    Ok(calls)
}

fn split_pipes(src: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut in_str = false;
    let mut start = 0;
    for (i, c) in src.char_indices() {
        match c {
            '"' => in_str = !in_str,
            '|' if !in_str => {
                parts.push(&src[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&src[start..]);
    parts
}

fn split_words(src: &str) -> Result<Vec<String>, TemplateError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_str = false;
    for c in src.chars() {
        match c {
            '"' => {
                in_str = !in_str;
                cur.push(c);
            }
            c if c.is_whitespace() && !in_str => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if in_str {
        return Err(TemplateError(format!("unterminated string in {src:?}")));
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    Ok(words)
}

fn lookup(data: &Value, path: &[String]) -> Value {
    let mut cur = data;
    for key in path {
        match cur.get(key) {
            Some(v) => cur = v,
            None => return Value::Null,
        }
    }
    cur.clone()
}

fn eval_call(call: &Call, data: &Value, piped: Option<Value>) -> Result<Value, TemplateError> {
    let mut args: Vec<Value> = call
        .args
        .iter()
        .map(|a| match a {
            Arg::Path(p) => lookup(data, p),
            Arg::Str(s) => Value::String(s.clone()),
        })
        .collect();
    if let Some(p) = piped {
        args.push(p);
    }
    let one = |args: &[Value]| -> Result<Value, TemplateError> {
        args.first()
            .cloned()
            .ok_or_else(|| TemplateError("missing argument".to_string()))
    };
    match call.func.as_deref() {
        None => one(&args),
        Some("json") => {
            let v = one(&args)?;
            Ok(Value::String(
                serde_json::to_string(&v).map_err(|e| TemplateError(format!("json: {e}")))?,
            ))
        }
        Some("upper") => Ok(Value::String(go_print(&one(&args)?).to_uppercase())),
        Some("lower") => Ok(Value::String(go_print(&one(&args)?).to_lowercase())),
        Some("title") => {
            let s = go_print(&one(&args)?);
            let mut c = s.chars();
            Ok(Value::String(match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }))
        }
        Some("len") => Ok(match one(&args)? {
            Value::Array(a) => a.len().into(),
            Value::Object(o) => o.len().into(),
            Value::String(s) => s.len().into(),
            _ => 0.into(),
        }),
        Some("join") => {
            if args.len() < 2 {
                return Err(TemplateError(
                    "join needs a list and a separator".to_string(),
                ));
            }
            let sep = go_print(&args[1]);
            let items = match &args[0] {
                Value::Array(a) => a.iter().map(go_print).collect::<Vec<_>>(),
                Value::Null => Vec::new(),
                other => vec![go_print(other)],
            };
            Ok(Value::String(items.join(&sep)))
        }
        Some("println") => Ok(Value::String(format!(
            "{}\n",
            args.iter().map(go_print).collect::<Vec<_>>().join(" ")
        ))),
        Some(other) => Err(TemplateError(format!("function {other:?} not supported"))),
    }
}

/// Prints a value the way Go's `fmt.Print` shows decoded JSON in a template.
pub fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => format!(
            "map[{}]",
            o.iter()
                .map(|(k, v)| format!("{k}:{}", go_print(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, v: &Value) -> String {
        Template::parse(t, None).unwrap().render(v).unwrap()
    }

    #[test]
    fn dotted_paths_and_json() {
        let v = json!({"Id":"abc","State":{"Status":"running","Pid":42},
                       "Config":{"Cmd":["echo","hi"],"Env":null}});
        assert_eq!(render("{{.State.Status}}", &v), "running");
        assert_eq!(render("{{.Id}} {{.State.Pid}}", &v), "abc 42");
        assert_eq!(
            render("{{json .Config}}", &v),
            r#"{"Cmd":["echo","hi"],"Env":null}"#
        );
        assert_eq!(render("{{.Config.Cmd}}", &v), "[echo hi]");
        assert_eq!(
            render("{{.Config | json}}", &v),
            r#"{"Cmd":["echo","hi"],"Env":null}"#
        );
        assert_eq!(render("{{.Nope}}", &v), "<no value>");
        assert_eq!(render("{{join .Config.Cmd \",\"}}", &v), "echo,hi");
        assert_eq!(render("{{upper .State.Status}}", &v), "RUNNING");
        assert_eq!(render("a {{- .Id -}} b", &v), "aabcb");
    }

    #[test]
    fn unknown_fields_and_functions_are_errors() {
        let e = Template::parse("{{.Foo}}", Some(&["ID", "Names"])).unwrap_err();
        assert!(e.to_string().contains("valid fields are: ID, Names"), "{e}");
        assert!(Template::parse("{{range .X}}", None).is_err());
        assert!(Template::parse("{{.X", None).is_err());
    }
}
