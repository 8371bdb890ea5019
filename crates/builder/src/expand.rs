//! Variable substitution in Dockerfile words, as the classic builder's shell lexer does it
//! (reference §3): `$x`, `${x}`, `${x:-w}`, `${x:+w}`, `${x:?m}`, `${x?m}`, escapes, single and
//! double quotes, `$$` (empty), a trailing `$` (kept).
//!
//! Two entry points: [`expand_word`] turns one word into one string (quotes removed, blanks
//! kept: ENV values, WORKDIR, USER, COPY paths); [`expand_words`] also splits on unquoted blanks,
//! including blanks that come out of a variable (EXPOSE `$PORTS`).
//!
//! Not here: deciding which variables are in scope (see [`crate::scope`]) and which instructions
//! are substituted (see [`crate::dispatch`]).

use api::ErrorKind;

/// A variable lookup: `Some(value)` when the variable is set (possibly empty).
pub trait Vars {
    /// The value of `name`, `None` when unset.
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Vars for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// `KEY=value` pairs, the last definition of a key wins.
impl Vars for [(String, String)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// No variables at all.
pub struct NoVars;

impl Vars for NoVars {
    fn get(&self, _: &str) -> Option<String> {
        None
    }
}

/// A word that could not be substituted. `Display` is Docker's
/// `failed to process "<word>": <reason>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {word:?}: {reason}")]
pub struct ExpandError {
    /// The whole word being processed.
    pub word: String,
    /// Why, in Docker's words (`missing ':' in substitution`, `X: msg`...).
    pub reason: String,
}

impl ExpandError {
    /// Always a user error.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

/// Substitutes `word` into one string: quotes removed, escapes applied, blanks kept.
pub fn expand_word<V: Vars + ?Sized>(
    word: &str,
    escape: char,
    vars: &V,
) -> Result<String, ExpandError> {
    Lexer::run(word, escape, vars).map(|(w, _)| w)
}

/// Substitutes `word` and splits the result on unquoted blanks (also blanks produced by a
/// variable's value). Quoted blanks and escaped blanks stay inside a word.
pub fn expand_words<V: Vars + ?Sized>(
    word: &str,
    escape: char,
    vars: &V,
) -> Result<Vec<String>, ExpandError> {
    Lexer::run(word, escape, vars).map(|(_, ws)| ws)
}

/// Substitutes variables in a `COPY`/`ADD` heredoc body whose delimiter was not quoted, as
/// BuildKit does (`ExpandRaw`: a lexer with the `\` escape whatever the Dockerfile's escape
/// directive, quotes not processed). Like BuildKit, a backslash escapes the next character and
/// is removed (`\$X` gives `$X`, but `\n` gives `n`): quote the delimiter to keep the text.
pub fn expand_heredoc<V: Vars + ?Sized>(body: &str, vars: &V) -> Result<String, ExpandError> {
    let mut lexer = Lexer {
        chars: body.chars().collect(),
        pos: 0,
        escape: '\\',
        vars,
        raw: true,
        depth: 0,
    };
    lexer
        .process_until(None)
        .map(|(w, _)| w)
        .map_err(|reason| ExpandError {
            word: body.to_string(),
            reason,
        })
}

/// Words being built by [`Lexer`], split the way Docker's `wordsStruct` splits them.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

struct Lexer<'a, V: Vars + ?Sized> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    vars: &'a V,
    /// Heredoc bodies: quotes are ordinary text.
    raw: bool,
    /// Nesting of `${x:-${y:-...}}`, bounded so a hostile line cannot exhaust the stack.
    depth: usize,
}

/// Deeper `${...}` nesting than any real Dockerfile uses is refused instead of recursing on.
const MAX_DEPTH: usize = 200;

impl<'a, V: Vars + ?Sized> Lexer<'a, V> {
    fn run(word: &str, escape: char, vars: &'a V) -> Result<(String, Vec<String>), ExpandError> {
        let mut lexer = Lexer {
            chars: word.chars().collect(),
            pos: 0,
            escape,
            vars,
            raw: false,
            depth: 0,
        };
        lexer.process_until(None).map_err(|reason| ExpandError {
            word: word.to_string(),
            reason,
        })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name)
    }

    /// Processes until `stop` (consumed) or the end of the input.
    fn process_until(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            match ch {
                '\'' if !self.raw => {
                    let s = self.single_quote()?;
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '"' if !self.raw => {
                    let s = self.double_quote()?;
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '$' => {
                    let s = self.dollar()?;
                    result.push_str(&s);
                    words.add_string(&s);
                }
                _ => {
                    self.next();
                    let mut ch = ch;
                    if ch == self.escape {
                        // An escape takes the next character literally; at the end it vanishes.
                        match self.next() {
                            None => break,
                            Some(c) => ch = c,
                        }
                        words.add_raw_char(ch);
                    } else {
                        words.add_char(ch);
                    }
                    result.push(ch);
                }
            }
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn single_quote(&mut self) -> Result<String, String> {
        self.next();
        let mut out = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .to_string(),
                    )
                }
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, String> {
        self.next();
        let mut out = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .to_string(),
                    )
                }
                Some('"') => {
                    self.next();
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(_) => {
                    let mut ch = self.next().expect("peeked a character");
                    if ch == self.escape {
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.escape => {
                                ch = c;
                                self.next();
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(ch);
                }
            }
        }
    }

    fn dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(self.get(&name).unwrap_or_default());
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".to_string()),
            Some('{') | Some('}') | Some(':') => {
                return Err("syntax error: bad substitution".to_string())
            }
            _ => {}
        }
        let name = self.name();
        match self.next() {
            Some('}') => Ok(self.get(&name).unwrap_or_default()),
            Some('?') => {
                let word = self.modifier_word()?;
                match self.get(&name) {
                    Some(v) => Ok(v),
                    None => Err(format!(
                        "{name}: {}",
                        or(word, "is not allowed to be unset")
                    )),
                }
            }
            Some(':') => {
                let modifier = self.next();
                let word = self.modifier_word()?;
                let value = self.get(&name);
                match modifier {
                    Some('+') => Ok(match value {
                        Some(v) if !v.is_empty() => word,
                        _ => String::new(),
                    }),
                    Some('-') => Ok(match value {
                        Some(v) if !v.is_empty() => v,
                        _ => word,
                    }),
                    Some('?') => match value {
                        None => Err(format!(
                            "{name}: {}",
                            or(word, "is not allowed to be unset")
                        )),
                        Some(v) if v.is_empty() => Err(format!(
                            "{name}: {}",
                            or(word, "is not allowed to be empty")
                        )),
                        Some(v) => Ok(v),
                    },
                    Some(m) => Err(format!("unsupported modifier ({m}) in substitution")),
                    None => Err("syntax error: missing '}'".to_string()),
                }
            }
            _ => Err("missing ':' in substitution".to_string()),
        }
    }

    /// The word after a modifier, up to the closing brace; it may contain substitutions.
    fn modifier_word(&mut self) -> Result<String, String> {
        if self.depth >= MAX_DEPTH {
            return Err("syntax error: substitutions nested too deeply".to_string());
        }
        self.depth += 1;
        let word = self.process_until(Some('}'));
        self.depth -= 1;
        match word {
            Ok((w, _)) => Ok(w),
            Err(_) if self.peek().is_none() => Err("syntax error: missing '}'".to_string()),
            Err(e) => Err(e),
        }
    }

    /// A variable name: letters, digits and `_`; or a run of digits; or one special parameter.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            name.push(ch);
            self.next();
        }
        name
    }
}

fn or(word: String, default: &str) -> String {
    if word.is_empty() {
        default.to_string()
    } else {
        word
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vec<(String, String)> {
        vec![
            ("X".into(), "x".into()),
            ("E".into(), String::new()),
            ("P".into(), "80 443".into()),
        ]
    }

    fn ex(w: &str) -> Result<String, String> {
        expand_word(w, '\\', vars().as_slice()).map_err(|e| e.to_string())
    }

    #[test]
    fn dollar_name_and_braces_unset_is_empty() {
        // "$name, ${name} | yes | unset → empty string"
        assert_eq!(ex("a$X-${X}b").unwrap(), "ax-xb");
        assert_eq!(ex("[$NOPE][${NOPE}]").unwrap(), "[][]");
    }

    #[test]
    fn colon_minus_uses_word_when_unset_or_empty() {
        // "${name:-word} | word if unset or empty"
        assert_eq!(ex("${NOPE:-w}").unwrap(), "w");
        assert_eq!(ex("${E:-w}").unwrap(), "w");
        assert_eq!(ex("${X:-w}").unwrap(), "x");
        // "The word in :-/:+ may itself contain variables."
        assert_eq!(ex("${NOPE:-$X/y}").unwrap(), "x/y");
    }

    #[test]
    fn colon_plus_uses_word_when_set_non_empty() {
        // "${name:+word} | word if set and non-empty, else empty"
        assert_eq!(ex("${X:+w}").unwrap(), "w");
        assert_eq!(ex("${E:+w}").unwrap(), "");
        assert_eq!(ex("${NOPE:+w}").unwrap(), "");
    }

    #[test]
    fn question_mark_is_an_error_with_the_message() {
        // `failed to process "${X:?m}": X: m`
        assert_eq!(
            ex("${NOPE:?m}").unwrap_err(),
            r#"failed to process "${NOPE:?m}": NOPE: m"#
        );
        assert_eq!(
            ex("${NOPE?m}").unwrap_err(),
            r#"failed to process "${NOPE?m}": NOPE: m"#
        );
        assert_eq!(ex("${X:?m}").unwrap(), "x");
        assert_eq!(ex("${E?m}").unwrap(), "");
        assert!(ex("${E:?}")
            .unwrap_err()
            .ends_with("E: is not allowed to be empty"));
    }

    #[test]
    fn forms_without_colon_and_patterns_are_errors() {
        // "${name-word}, ${name+word} (no colon) | error `missing ':' in substitution`"
        for w in ["${X-y}", "${X+y}", "${X#p}", "${X%p}", "${X/a/b}"] {
            assert_eq!(
                ex(w).unwrap_err(),
                format!("failed to process {w:?}: missing ':' in substitution")
            );
        }
        // Docker's lexer reports an unterminated `${X` as a missing ':' too.
        assert!(ex("${X").unwrap_err().contains("missing ':'"));
        assert!(ex("${").unwrap_err().contains("missing '}'"));
        assert!(ex("${X:-a").unwrap_err().contains("missing '}'"));
        assert!(ex("${}").unwrap_err().contains("bad substitution"));
        assert!(ex("${X:*y}")
            .unwrap_err()
            .contains("unsupported modifier (*)"));
    }

    #[test]
    fn escapes_quotes_and_dollars() {
        // "\$name, \${name} | literal $name"
        assert_eq!(ex(r"\$X \${X}").unwrap(), "$X ${X}");
        // "'...$name...' | literal (single quotes suppress substitution and are removed)"
        assert_eq!(ex("'a $X b'").unwrap(), "a $X b");
        // "\"...$name...\" | substituted, quotes removed"
        assert_eq!(ex(r#""a $X \" \q""#).unwrap(), r#"a x " \q"#);
        // "$$ | expands to empty (not an escape)"
        assert_eq!(ex("a$$b").unwrap(), "ab");
        // "trailing $ | kept literally"
        assert_eq!(ex("a$").unwrap(), "a$");
        // A backslash before an ordinary character is dropped; at the end it vanishes.
        assert_eq!(ex(r"C:\dir\").unwrap(), "C:dir");
        assert!(ex("'open").unwrap_err().contains("single-quote"));
        assert!(ex("\"open").unwrap_err().contains("double-quote"));
    }

    #[test]
    fn backtick_escape_keeps_backslashes() {
        // "# escape=` ... backslashes become literal (ENV P=C:\dir keeps the backslash)"
        assert_eq!(
            expand_word(r"C:\dir`$X", '`', &NoVars).unwrap(),
            r"C:\dir$X"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "${A:-".repeat(100_000) + &"}".repeat(100_000);
        assert!(ex(&deep).unwrap_err().contains("nested too deeply"));
        let ok = "${A:-".repeat(10) + "x" + &"}".repeat(10);
        assert_eq!(ex(&ok).unwrap(), "x");
    }

    #[test]
    fn heredoc_bodies_keep_quotes() {
        // BuildKit's ExpandRaw: quotes are text, `\` escapes and is removed.
        let v = vars();
        let out = expand_heredoc("echo \"$X\" '${X}' \\$X a\\nb\n", v.as_slice()).unwrap();
        assert_eq!(out, "echo \"x\" 'x' $X anb\n");
    }

    #[test]
    fn words_split_on_unquoted_blanks_and_variable_values() {
        let v = vars();
        let w = |s: &str| expand_words(s, '\\', v.as_slice()).unwrap();
        // "expose $FOO with FOO="80 443" is expanded as EXPOSE [80,443]"
        assert_eq!(w("$P 53/udp"), ["80", "443", "53/udp"]);
        assert_eq!(w(r#""$P" a\ b 'c d'"#), ["80 443", "a b", "c d"]);
        assert!(w("   ").is_empty());
    }
}
