//! `.dockerignore` (reference §5): Docker's pattern matcher (moby/patternmatcher) over paths
//! relative to the context root.
//!
//! Patterns: one per line; blank lines and `#` lines ignored; surrounding blanks trimmed; the
//! path cleaned (`a/../b`, `./a`, `docs/`) and a leading `/` dropped. `*` matches within one path
//! segment, `?` one character (not `/`), `[a-z]`/`[^a]` a class, `\x` a literal `x`, `**` any
//! number of segments. A leading `!` makes an exception; the **last** matching line wins. A
//! pattern that matches a directory excludes everything under it (a path is also tested
//! through each of its parent directories).
//!
//! The Dockerfile and `.dockerignore` are always sent ([`IgnoreMatcher::for_build`]) but hidden
//! from `COPY` when the user's patterns exclude them ([`IgnoreMatcher::hidden_from_copy`]).

use api::ErrorKind;

/// A malformed pattern. `Display` is Go's `filepath.ErrBadPattern` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern: {pattern}")]
pub struct IgnoreError {
    /// The pattern as written.
    pub pattern: String,
}

impl IgnoreError {
    /// The user's file.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    text: String,
    exclusion: bool,
}

/// A compiled `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreMatcher {
    patterns: Vec<Pattern>,
    /// Files sent whatever the patterns say (Dockerfile, `.dockerignore`).
    always_sent: Vec<String>,
}

impl IgnoreMatcher {
    /// Parses the contents of a `.dockerignore`.
    pub fn parse(text: &str) -> Result<IgnoreMatcher, IgnoreError> {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclusion, body) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let mut text = if body.is_empty() {
                String::new()
            } else {
                clean(body)
            };
            if text.len() > 1 && text.starts_with('/') {
                text.remove(0);
            }
            validate(&text).map_err(|_| IgnoreError {
                pattern: line.to_string(),
            })?;
            patterns.push(Pattern { text, exclusion });
        }
        Ok(IgnoreMatcher {
            patterns,
            always_sent: Vec::new(),
        })
    }

    /// The matcher the client uses for a build with the Dockerfile at `dockerfile` (relative to
    /// the context): the Dockerfile and `.dockerignore` are always sent.
    pub fn for_build(text: &str, dockerfile: &str) -> Result<IgnoreMatcher, IgnoreError> {
        let mut m = IgnoreMatcher::parse(text)?;
        m.always_sent = vec![".dockerignore".to_string(), clean(dockerfile)];
        Ok(m)
    }

    /// Is the pattern list empty?
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Do the user's patterns exclude `path` (itself or through a parent directory)?
    fn matches(&self, path: &str) -> bool {
        let path = clean(path.trim_start_matches('/'));
        let parents: Vec<&str> = path.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut hit = pattern_match(&p.text, &path);
            if !hit && parents.len() > 1 {
                for i in 1..parents.len() {
                    if pattern_match(&p.text, &parents[..i].join("/")) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// Is `path` (relative to the context root, `/` separated) left out of the context?
    pub fn is_excluded(&self, path: &str) -> bool {
        let cleaned = clean(path.trim_start_matches('/'));
        if self.always_sent.contains(&cleaned) {
            return false;
        }
        self.matches(&cleaned)
    }

    /// Must `COPY`/`ADD` treat `path` as missing? True for every excluded path, including the
    /// Dockerfile and `.dockerignore` when the patterns list them.
    pub fn hidden_from_copy(&self, path: &str) -> bool {
        self.matches(path)
    }

    /// Can the directory `dir` be skipped without looking inside? Only when it is excluded and
    /// no exception could re-include something under it (and no always-sent file is inside).
    pub fn can_skip_dir(&self, dir: &str) -> bool {
        let dir = clean(dir.trim_start_matches('/'));
        if !self.is_excluded(&dir) {
            return false;
        }
        let dir_slash = format!("{dir}/");
        if self.always_sent.iter().any(|f| f.starts_with(&dir_slash)) {
            return false;
        }
        !self.patterns.iter().filter(|p| p.exclusion).any(|p| {
            // The literal part before the first wildcard decides whether the exception could
            // reach inside `dir`.
            let lit_end = p.text.find(['*', '?', '[', '\\']).unwrap_or(p.text.len());
            let literal = &p.text[..lit_end];
            let full = format!("{}/", p.text);
            if lit_end == p.text.len() {
                full.starts_with(&dir_slash)
            } else {
                dir_slash.starts_with(literal) || literal.starts_with(&dir_slash)
            }
        })
    }
}

/// Go's `filepath.Clean` on a relative `/`-separated path (`.` for empty).
pub fn clean(p: &str) -> String {
    let absolute = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if matches!(parts.last(), Some(l) if *l != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Checks bracket classes are closed and ranges are well-formed.
fn validate(p: &str) -> Result<(), ()> {
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '[' => {
                let (_, next) = class_at(&chars, i, '\0').ok_or(())?;
                i = next;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Parses the class starting at `chars[start] == '['` and tests `c` against it:
/// `(matched, index after ']')`, `None` if malformed.
fn class_at(chars: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let mut lo = *chars.get(i)?;
        if lo == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        if lo == '\\' {
            i += 1;
            lo = *chars.get(i)?;
        }
        i += 1;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']') {
            i += 1;
            hi = *chars.get(i)?;
            if hi == '\\' {
                i += 1;
                hi = *chars.get(i)?;
            }
            i += 1;
            if hi < lo {
                return None;
            }
        }
        if lo <= c && c <= hi {
            matched = true;
        }
    }
    Some((matched != negated, i))
}

/// Does the cleaned pattern match the whole cleaned path (`**` crossing directories)?
pub fn pattern_match(pattern: &str, path: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = path.chars().collect();
    // `**x` with no other wildcard: patternmatcher's suffix match.
    if let Some(rest) = pattern.strip_prefix("**") {
        if !rest.is_empty() && !rest.contains(['*', '?', '[', '\\']) {
            return path.ends_with(rest) || (rest.starts_with('/') && path == &rest[1..]);
        }
    }
    glob(&p, &s, true)
}

/// Go's `filepath.Match` on `/`-separated paths: `*` and `?` never cross `/`, no `**`.
/// For COPY/ADD wildcards, applied per path.
pub fn path_match(pattern: &str, path: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = path.chars().collect();
    glob(&p, &s, false)
}

/// One element of a compiled pattern.
#[derive(Clone, Copy)]
enum Token {
    /// A literal character.
    Lit(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**` (and `**/`) before more pattern: `(.*/)?`.
    Dirs,
    /// `**` at the end: anything.
    Rest,
    /// A `[...]` class starting at this index of the pattern's characters.
    Class(usize),
}

fn tokens(p: &[char], double_star: bool) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '*' if double_star && p.get(i + 1) == Some(&'*') => {
                i += 2;
                if p.get(i) == Some(&'/') {
                    i += 1;
                }
                out.push(if i == p.len() {
                    Token::Rest
                } else {
                    Token::Dirs
                });
                continue;
            }
            '*' => out.push(Token::Star),
            '?' => out.push(Token::One),
            '[' => {
                let (_, next) = class_at(p, i, '\0')?;
                out.push(Token::Class(i));
                i = next;
                continue;
            }
            '\\' => {
                out.push(Token::Lit(p.get(i + 1).copied().unwrap_or('\\')));
                i += 2;
                continue;
            }
            c => out.push(Token::Lit(c)),
        }
        i += 1;
    }
    Some(out)
}

/// Matches by simulating the pattern as an automaton over the path: linear in pattern times
/// path length, no recursion, so hostile patterns cannot blow the stack or the clock.
fn glob(p: &[char], s: &[char], double_star: bool) -> bool {
    let Some(toks) = tokens(p, double_star) else {
        return false;
    };
    let n = toks.len();
    // at[i]: about to match token i; mid[i]: inside `Dirs` token i after at least one char.
    let mut at = vec![false; n + 1];
    let mut mid = vec![false; n + 1];
    at[0] = true;
    let close = |at: &mut Vec<bool>| {
        for i in 0..n {
            if at[i] && matches!(toks[i], Token::Star | Token::Dirs | Token::Rest) {
                at[i + 1] = true;
            }
        }
    };
    close(&mut at);
    for &c in s {
        let mut next_at = vec![false; n + 1];
        let mut next_mid = vec![false; n + 1];
        for i in 0..n {
            if mid[i] {
                next_mid[i] = true;
                if c == '/' {
                    next_at[i + 1] = true;
                }
            }
            if !at[i] {
                continue;
            }
            match toks[i] {
                Token::Lit(l) => next_at[i + 1] |= c == l,
                Token::One => next_at[i + 1] |= c != '/',
                Token::Class(start) => {
                    next_at[i + 1] |= c != '/' && matches!(class_at(p, start, c), Some((true, _)))
                }
                Token::Star => next_at[i] |= c != '/',
                Token::Rest => next_at[i] = true,
                Token::Dirs => {
                    next_mid[i] = true;
                    if c == '/' {
                        next_at[i + 1] = true;
                    }
                }
            }
        }
        close(&mut next_at);
        at = next_at;
        mid = next_mid;
        if !at.iter().chain(mid.iter()).any(|b| *b) {
            return false;
        }
    }
    at[n]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> IgnoreMatcher {
        IgnoreMatcher::parse(text).unwrap()
    }

    #[test]
    fn comments_blanks_and_cleaning() {
        // "#` lines and blank lines ignored; surrounding blanks trimmed and paths cleaned
        // (a/../b); a leading / is dropped (/c.md excluded c.md)"
        let i = m("# comment\n\n  /c.md  \n./x/../b\ndocs/\n");
        assert!(i.is_excluded("c.md"));
        assert!(i.is_excluded("b"));
        assert!(i.is_excluded("docs/readme"));
        assert!(!i.is_excluded("# comment"));
        assert!(!i.is_excluded("x"));
    }

    #[test]
    fn star_is_one_level() {
        // "*.log matches only top-level .log files (not logs/x.log); */deep matches one level"
        let i = m("*.log\n*/deep\n");
        assert!(i.is_excluded("a.log"));
        assert!(!i.is_excluded("logs/x.log"));
        assert!(i.is_excluded("sub/deep"));
        assert!(i.is_excluded("sub/deep/file"));
        assert!(!i.is_excluded("a/b/deep"));
    }

    #[test]
    fn double_star_any_depth() {
        // "**/*.tmp excludes .tmp files at any depth"
        let i = m("**/*.tmp\n");
        assert!(i.is_excluded("a.tmp"));
        assert!(i.is_excluded("x/y/z.tmp"));
        assert!(!i.is_excluded("x/y/z.txt"));
        let i = m("**/node_modules\nsrc/**\n");
        assert!(i.is_excluded("node_modules/x"));
        assert!(i.is_excluded("a/b/node_modules"));
        assert!(i.is_excluded("src/deep/x"));
        assert!(!i.is_excluded("srcx"));
    }

    #[test]
    fn directory_pattern_excludes_contents() {
        // "A pattern naming a directory (node_modules, docs/) excludes everything under it."
        let i = m("node_modules\n");
        assert!(i.is_excluded("node_modules/a/b.js"));
        assert!(i.can_skip_dir("node_modules"));
    }

    #[test]
    fn exceptions_last_match_wins() {
        // "!pattern re-includes; the last matching line wins. logs then !logs/keep keeps
        // logs/keep/y.log; */deep then !sub/deep/k.txt keeps that file"
        let i = m("logs\n!logs/keep\n");
        assert!(i.is_excluded("logs/x.log"));
        assert!(!i.is_excluded("logs/keep/y.log"));
        assert!(!i.can_skip_dir("logs"));
        let i = m("*/deep\n!sub/deep/k.txt\n");
        assert!(!i.is_excluded("sub/deep/k.txt"));
        assert!(i.is_excluded("sub/deep/other"));
        assert!(i.can_skip_dir("other/deep"));
        assert!(!i.can_skip_dir("sub/deep"));
        let i = m("!a.txt\n*.txt\n");
        assert!(i.is_excluded("a.txt"));
        let i = m("*\n!*/keep\n");
        assert!(!i.can_skip_dir("x"));
    }

    #[test]
    fn question_mark_and_classes() {
        // "? matches one character (?.txt)"
        let i = m("?.txt\n[ab]c\n[^x]y\n");
        assert!(i.is_excluded("a.txt"));
        assert!(!i.is_excluded("ab.txt"));
        assert!(i.is_excluded("bc"));
        assert!(i.is_excluded("zy"));
        assert!(!i.is_excluded("xy"));
        assert!(IgnoreMatcher::parse("[abc\n").is_err());
        assert!(IgnoreMatcher::parse("[z-a]\n").is_err());
    }

    #[test]
    fn dockerfile_and_dockerignore_always_sent() {
        // "The Dockerfile and .dockerignore are always sent, even when .dockerignore lists
        // them; ... deletes both from the context if they are ignored"
        let i = IgnoreMatcher::for_build("Dockerfile\n.dockerignore\n*\n", "Dockerfile").unwrap();
        assert!(!i.is_excluded("Dockerfile"));
        assert!(!i.is_excluded(".dockerignore"));
        assert!(i.hidden_from_copy("Dockerfile"));
        assert!(i.is_excluded("other"));
        let i = IgnoreMatcher::for_build("build\n", "build/Dockerfile.dev").unwrap();
        assert!(!i.is_excluded("build/Dockerfile.dev"));
        assert!(!i.can_skip_dir("build"));
    }

    #[test]
    fn hostile_patterns_stay_linear() {
        let pattern = "*a".repeat(500) + "**/" + &"?".repeat(50);
        assert!(pattern_match(&pattern, &("a".repeat(3000) + "b")));
        assert!(!pattern_match(&pattern, &"b".repeat(3000)));
        assert!(pattern_match("**/**/**/x", "a/b/c/d/x"));
    }

    #[test]
    fn filepath_match_for_copy() {
        assert!(path_match("dir/*", "dir/a"));
        assert!(!path_match("dir/*", "dir/a/b"));
        assert!(path_match("*.txt", "a.txt"));
        assert!(!path_match("**/a", "x/y/a"));
        assert_eq!(clean("a/../../b/"), "../b");
    }
}
