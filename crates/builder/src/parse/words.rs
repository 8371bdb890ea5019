//! Word-level helpers of the parser, each mirroring one function of moby's parser so the same
//! input splits the same way: `parseWords` ([`quoted_words`]), `extractBuilderFlags`
//! ([`extract_flags`]), `parseJSON` ([`json_array`]), heredoc detection ([`heredocs_in`]).

use super::Heredoc;

/// Splits on blanks outside quotes; quotes and escapes are kept in the words (they are removed
/// later by substitution). An escape at the very end is dropped.
pub(crate) fn quoted_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    let mut chars = rest.chars().peekable();
    while let Some(ch) = chars.next() {
        if let Some(q) = quote {
            if ch == q {
                quote = None;
            }
            if ch == escape && q != '\'' {
                match chars.next() {
                    None => {
                        quote = None;
                        continue;
                    }
                    Some(next) => {
                        word.push(ch);
                        word.push(next);
                        continue;
                    }
                }
            }
            word.push(ch);
            continue;
        }
        if ch.is_whitespace() {
            if in_word && (blank_ok || !word.is_empty()) {
                words.push(std::mem::take(&mut word));
            }
            in_word = false;
            blank_ok = false;
            continue;
        }
        in_word = true;
        if ch == '\'' || ch == '"' {
            quote = Some(ch);
            blank_ok = true;
        }
        if ch == escape {
            match chars.next() {
                None => continue,
                Some(next) => {
                    word.push(ch);
                    word.push(next);
                    continue;
                }
            }
        }
        word.push(ch);
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// Takes the leading `--flag[=value]` words off `line`: `(rest, flags)`. Quotes in flag words
/// are removed and `\` escapes the next character; a lone `--` ends the flags.
pub(crate) fn extract_flags(line: &str) -> (String, Vec<String>) {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut flags = Vec::new();
    let mut i = 0;
    loop {
        while i < chars.len() && chars[i].1.is_whitespace() {
            i += 1;
        }
        if i >= chars.len() {
            return (String::new(), flags);
        }
        let start = chars[i].0;
        if !line[start..].starts_with("--") {
            return (line[start..].to_string(), flags);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let ch = chars[i].1;
            if quote.is_none() && ch.is_whitespace() {
                break;
            }
            i += 1;
            match (quote, ch) {
                (None, '\'' | '"') => quote = Some(ch),
                (Some(q), c) if c == q => quote = None,
                (_, '\\') => {
                    if let Some(&(_, n)) = chars.get(i) {
                        word.push(n);
                        i += 1;
                    }
                }
                (_, c) => word.push(c),
            }
        }
        if word == "--" {
            let rest = chars.get(i).map_or("", |&(b, _)| &line[b..]);
            return (rest.trim_start().to_string(), flags);
        }
        flags.push(word);
    }
}

/// Why a JSON form was not taken.
pub(crate) enum JsonForm {
    /// A JSON array of strings.
    Strings(Vec<String>),
    /// Not JSON at all: the caller falls back to shell form.
    NotJson,
    /// A JSON array with a non-string element: Docker's error.
    NotStrings,
}

/// Docker's `parseJSON`: the text must start with `[`; the first JSON value is decoded and
/// anything after it is ignored (Go's `json.Decoder` does that).
pub(crate) fn json_array(rest: &str) -> JsonForm {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return JsonForm::NotJson;
    }
    let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
    match stream.next() {
        Some(Ok(serde_json::Value::Array(items))) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    serde_json::Value::String(s) => out.push(s),
                    _ => return JsonForm::NotStrings,
                }
            }
            JsonForm::Strings(out)
        }
        _ => JsonForm::NotJson,
    }
}

/// Words of a line split on unquoted blanks with quotes and escapes kept (BuildKit's
/// raw-quote lexer, used only to find heredoc markers).
fn raw_shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(ch) = chars.next() {
        match quote {
            Some(q) => {
                if ch == q {
                    quote = None;
                } else if ch == '\\' && q == '"' {
                    word.push(ch);
                    if let Some(n) = chars.next() {
                        word.push(n);
                    }
                    continue;
                }
                word.push(ch);
            }
            None if ch.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            None => {
                if ch == '\'' || ch == '"' {
                    quote = Some(ch);
                } else if ch == '\\' {
                    word.push(ch);
                    if let Some(n) = chars.next() {
                        word.push(n);
                    }
                    continue;
                }
                word.push(ch);
            }
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Parses one word as a heredoc marker: `[fd]<<[-]WORD`, `WORD` optionally quoted.
pub(crate) fn heredoc_marker(word: &str) -> Option<Heredoc> {
    let digits = word.chars().take_while(char::is_ascii_digit).count();
    let rest = word[digits..].strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let quoted = rest.contains(['\'', '"']);
    let name: String = rest.chars().filter(|c| *c != '\'' && *c != '"').collect();
    if name.is_empty() || name.split_whitespace().count() != 1 {
        return None;
    }
    let fd = if digits == 0 {
        0
    } else {
        word[..digits].parse().ok()?
    };
    Some(Heredoc {
        name,
        content: String::new(),
        expand: !quoted,
        chomp,
        fd,
    })
}

/// The heredocs a `RUN`/`COPY`/`ADD` line introduces, in order, with empty bodies.
pub(crate) fn heredocs_in(line: &str, _escape: char) -> Vec<Heredoc> {
    raw_shell_words(line)
        .iter()
        .filter_map(|w| heredoc_marker(w))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_words_keep_quotes_and_escapes() {
        assert_eq!(
            quoted_words(r#"A=1 B="two words" C=three\ words"#, '\\'),
            ["A=1", "B=\"two words\"", r"C=three\ words"]
        );
        assert_eq!(quoted_words("  a   b  ", '\\'), ["a", "b"]);
        assert_eq!(quoted_words(r#"k="""#, '\\'), [r#"k="""#]);
    }

    #[test]
    fn flags_come_off_the_front() {
        let (rest, flags) = extract_flags(r#"--from=a --chown="1:2" src dst --x"#);
        assert_eq!(flags, ["--from=a", "--chown=1:2"]);
        assert_eq!(rest, "src dst --x");
        let (rest, flags) = extract_flags("--a -- --b c");
        assert_eq!(flags, ["--a"]);
        assert_eq!(rest, "--b c");
        assert_eq!(
            extract_flags("--only"),
            (String::new(), vec!["--only".to_string()])
        );
    }

    #[test]
    fn json_is_the_first_value_of_strings() {
        assert!(matches!(json_array(r#"["a","b"] junk"#), JsonForm::Strings(v) if v == ["a","b"]));
        assert!(matches!(json_array("['a']"), JsonForm::NotJson));
        assert!(matches!(json_array(r#"["a",]"#), JsonForm::NotJson));
        assert!(matches!(json_array(r#"["a", 1]"#), JsonForm::NotStrings));
    }

    #[test]
    fn heredoc_markers() {
        let d = heredoc_marker("<<EOF").unwrap();
        assert_eq!((d.name.as_str(), d.expand, d.chomp), ("EOF", true, false));
        let d = heredoc_marker("<<-'END'").unwrap();
        assert_eq!((d.name.as_str(), d.expand, d.chomp), ("END", false, true));
        assert_eq!(heredoc_marker("3<<X").unwrap().fd, 3);
        assert!(heredoc_marker("<<").is_none());
        assert!(heredoc_marker("a<<EOF").is_none());
        let docs = heredocs_in(r#"RUN cat <<A <<"B" > x"#, '\\');
        assert_eq!(docs.len(), 2);
        assert!(!docs[1].expand);
    }
}
