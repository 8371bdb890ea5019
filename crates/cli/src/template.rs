//! The subset of Go's text/template that docker's `--format` users rely on, evaluated over JSON:
//! `{{.Field.Sub}}`, `{{.}}`, `{{json .X}}`, `{{upper .X}}`, `{{lower .X}}`, `{{join .X ","}}`,
//! `{{len .X}}`, `{{index .X "k"}}`, `eq`/`ne`/`not`/`and`/`or`, `printf`, pipes
//! (`{{.X | json}}`), `$` for the root, `{{-`/`-}}` trimming, and the blocks `if`/`else`/`end`,
//! `range`/`else`/`end` and `with`/`else`/`end`. Range variables (`$i, $e :=`) are not
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
    /// `.A.B` (relative to dot).
    Path(Vec<String>),
    /// `$` or `$.A.B` (relative to the root).
    Root(Vec<String>),
    Str(String),
    Lit(Value),
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
    If(Vec<Call>, Vec<Node>, Vec<Node>),
    Range(Vec<Call>, Vec<Node>, Vec<Node>),
    With(Vec<Call>, Vec<Node>, Vec<Node>),
}

/// A lexed piece of a template: text, or the inside of `{{ }}`.
enum Token {
    Text(String),
    Act(String),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

const FUNCS: [&str; 14] = [
    "json", "upper", "lower", "join", "len", "title", "println", "index", "eq", "ne", "not", "and",
    "or", "printf",
];

impl Template {
    /// Parses `src`. `fields`, when given, lists the valid top-level fields (docker's formatter
    /// contexts); an unknown one is an error naming the valid ones.
    pub fn parse(src: &str, fields: Option<&[&str]>) -> Result<Template, TemplateError> {
        let mut tokens = Vec::new();
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
                tokens.push(Token::Text(text));
            }
            tokens.push(Token::Act(inner.trim().to_string()));
            rest = &after[end + 2..];
        }
        let mut text = rest.to_string();
        if trim_next_text {
            text = text.trim_start().to_string();
        }
        if !text.is_empty() {
            tokens.push(Token::Text(text));
        }
        let mut pos = 0;
        let (nodes, end) = parse_list(&tokens, &mut pos, fields, 0)?;
        if let Some(e) = end {
            return Err(TemplateError(format!("unexpected {{{{{e}}}}}")));
        }
        Ok(Template { nodes })
    }

    /// Renders the template against `data`.
    pub fn render(&self, data: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        render_nodes(&self.nodes, data, data, &mut out)?;
        Ok(out)
    }
}

/// Parses nodes until `{{end}}` or `{{else ...}}` (returned as the terminator) or the input's
/// end. `depth` > 0 inside blocks, where dot is no longer the top-level object.
fn parse_list(
    tokens: &[Token],
    pos: &mut usize,
    fields: Option<&[&str]>,
    depth: usize,
) -> Result<(Vec<Node>, Option<String>), TemplateError> {
    let mut nodes = Vec::new();
    while *pos < tokens.len() {
        let t = &tokens[*pos];
        *pos += 1;
        let act = match t {
            Token::Text(s) => {
                nodes.push(Node::Text(s.clone()));
                continue;
            }
            Token::Act(a) => a.as_str(),
        };
        let keyword = act.split_whitespace().next().unwrap_or("");
        match keyword {
            "end" | "else" => return Ok((nodes, Some(act.to_string()))),
            "if" | "range" | "with" => {
                let pipe_src = act[keyword.len()..].trim();
                if keyword == "range" && pipe_src.contains(":=") {
                    return Err(TemplateError(
                        "range variables ($i, $e :=) are not supported".to_string(),
                    ));
                }
                let block_fields = if depth == 0 { fields } else { None };
                let pipe = parse_action(pipe_src, block_fields)?;
                let (body, end) = parse_list(tokens, pos, fields, depth + 1)?;
                let els = match end.as_deref() {
                    Some("end") => Vec::new(),
                    Some("else") => {
                        let (els, end) = parse_list(tokens, pos, fields, depth + 1)?;
                        if end.as_deref() != Some("end") {
                            return Err(TemplateError(format!(
                                "missing {{{{end}}}} for {keyword}"
                            )));
                        }
                        els
                    }
                    Some(e) if e.starts_with("else if ") && keyword == "if" => {
                        // `{{else if X}}`: a nested if that shares this block's end.
                        let cond = parse_action(e["else if ".len()..].trim(), block_fields)?;
                        let (then, end2) = parse_list(tokens, pos, fields, depth + 1)?;
                        let inner_else = match end2.as_deref() {
                            Some("end") => Vec::new(),
                            Some("else") => {
                                let (els, end3) = parse_list(tokens, pos, fields, depth + 1)?;
                                if end3.as_deref() != Some("end") {
                                    return Err(TemplateError("missing {{end}} for if".into()));
                                }
                                els
                            }
                            _ => return Err(TemplateError("missing {{end}} for if".into())),
                        };
                        vec![Node::If(cond, then, inner_else)]
                    }
                    _ => return Err(TemplateError(format!("missing {{{{end}}}} for {keyword}"))),
                };
                nodes.push(match keyword {
                    "if" => Node::If(pipe, body, els),
                    "range" => Node::Range(pipe, body, els),
                    _ => Node::With(pipe, body, els),
                });
            }
            _ => nodes.push(Node::Action(parse_action(
                act,
                if depth == 0 { fields } else { None },
            )?)),
        }
    }
    Ok((nodes, None))
}

/// Go's truth: false, 0, nil and empty strings, arrays and maps are false.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn eval_pipe(calls: &[Call], dot: &Value, root: &Value) -> Result<Value, TemplateError> {
    let mut piped: Option<Value> = None;
    for call in calls {
        piped = Some(eval_call(call, dot, root, piped)?);
    }
    Ok(piped.unwrap_or(Value::Null))
}

fn render_nodes(
    nodes: &[Node],
    dot: &Value,
    root: &Value,
    out: &mut String,
) -> Result<(), TemplateError> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(calls) => out.push_str(&go_print(&eval_pipe(calls, dot, root)?)),
            Node::If(cond, then, els) => {
                let branch = if truthy(&eval_pipe(cond, dot, root)?) {
                    then
                } else {
                    els
                };
                render_nodes(branch, dot, root, out)?;
            }
            Node::With(pipe, body, els) => {
                let v = eval_pipe(pipe, dot, root)?;
                if truthy(&v) {
                    render_nodes(body, &v, root, out)?;
                } else {
                    render_nodes(els, dot, root, out)?;
                }
            }
            Node::Range(pipe, body, els) => {
                let v = eval_pipe(pipe, dot, root)?;
                let items: Vec<Value> = match v {
                    Value::Array(a) => a,
                    Value::Object(o) => o.into_iter().map(|(_, v)| v).collect(),
                    Value::Null => Vec::new(),
                    other => {
                        return Err(TemplateError(format!(
                            "range can't iterate over {}",
                            go_print(&other)
                        )))
                    }
                };
                if items.is_empty() {
                    render_nodes(els, dot, root, out)?;
                }
                for item in &items {
                    render_nodes(body, item, root, out)?;
                }
            }
        }
    }
    Ok(())
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
        let (func, args) =
            if first.starts_with('.') || first.starts_with('"') || first.starts_with('$') {
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
            } else if a == "$" {
                parsed.push(Arg::Root(Vec::new()));
            } else if let Some(p) = a.strip_prefix("$.") {
                parsed.push(Arg::Root(p.split('.').map(str::to_string).collect()));
            } else if a == "true" || a == "false" || a == "nil" {
                parsed.push(Arg::Lit(match a.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => Value::Null,
                }));
            } else if let Ok(n) = a.parse::<i64>() {
                parsed.push(Arg::Lit(n.into()));
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

fn eval_call(
    call: &Call,
    data: &Value,
    root: &Value,
    piped: Option<Value>,
) -> Result<Value, TemplateError> {
    let mut args: Vec<Value> = call
        .args
        .iter()
        .map(|a| match a {
            Arg::Path(p) => lookup(data, p),
            Arg::Root(p) => lookup(root, p),
            Arg::Str(s) => Value::String(s.clone()),
            Arg::Lit(v) => v.clone(),
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
        Some("index") => {
            let mut cur = one(&args)?;
            for k in &args[1..] {
                cur = match (&cur, k) {
                    (Value::Object(o), key) => {
                        o.get(&go_print(key)).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Array(a), Value::Number(n)) => n
                        .as_u64()
                        .and_then(|i| a.get(i as usize).cloned())
                        .ok_or_else(|| TemplateError(format!("index out of range: {n}")))?,
                    _ => Value::Null,
                };
            }
            Ok(cur)
        }
        Some("eq") => {
            let first = one(&args)?;
            Ok(Value::Bool(args[1..].contains(&first)))
        }
        Some("ne") => {
            if args.len() != 2 {
                return Err(TemplateError("ne needs two arguments".into()));
            }
            Ok(Value::Bool(args[0] != args[1]))
        }
        Some("not") => Ok(Value::Bool(!truthy(&one(&args)?))),
        Some("and") => Ok(args
            .iter()
            .find(|a| !truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null)),
        Some("or") => Ok(args
            .iter()
            .find(|a| truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null)),
        Some("printf") => {
            let fmt = go_print(&one(&args)?);
            let mut rest = args[1..].iter();
            let mut outs = String::new();
            let mut chars = fmt.chars().peekable();
            while let Some(c) = chars.next() {
                if c != '%' {
                    outs.push(c);
                    continue;
                }
                match chars.next() {
                    Some('%') => outs.push('%'),
                    Some('q') => outs.push_str(&format!(
                        "{:?}",
                        rest.next().map(go_print).unwrap_or_default()
                    )),
                    Some(_) => outs.push_str(&rest.next().map(go_print).unwrap_or_default()),
                    None => outs.push('%'),
                }
            }
            Ok(Value::String(outs))
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
        assert!(Template::parse("{{range $i, $e := .X}}{{end}}", None).is_err());
        assert!(Template::parse("{{end}}", None).is_err());
        assert!(Template::parse("{{.X", None).is_err());
    }

    #[test]
    fn blocks_and_functions_like_go() {
        let v = json!({"Mounts":[{"Type":"volume","Name":"a","RW":true},{"Type":"bind","Name":null,"RW":false}],
                       "State":{"Running":true,"ExitCode":0},"Labels":{"tier":"web"},"Env":[]});
        assert_eq!(
            render("{{range .Mounts}}{{.Type}}:{{.RW}} {{end}}", &v),
            "volume:true bind:false "
        );
        assert_eq!(
            render("{{if .State.Running}}up{{else}}down{{end}}", &v),
            "up"
        );
        assert_eq!(render("{{if .Env}}env{{else}}none{{end}}", &v), "none");
        assert_eq!(
            render(
                "{{if eq .State.ExitCode 1}}one{{else if eq .State.ExitCode 0}}zero{{end}}",
                &v
            ),
            "zero"
        );
        assert_eq!(render("{{index .Labels \"tier\"}}", &v), "web");
        assert_eq!(render("{{with .Labels}}{{.tier}}{{end}}", &v), "web");
        assert_eq!(
            render("{{range .Mounts}}{{$.State.Running}}{{end}}", &v),
            "truetrue"
        );
        assert_eq!(render("{{range .Nope}}x{{else}}empty{{end}}", &v), "empty");
        assert_eq!(render("{{printf \"%s-%d\" .Labels.tier 3}}", &v), "web-3");
        assert_eq!(render("{{not .State.Running}}", &v), "false");
    }
}
