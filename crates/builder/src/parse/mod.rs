//! The Dockerfile parser: text in, [`Dockerfile`] out. Pure: no IO, no substitution, never panics
//! (a fuzz-style test feeds it random bytes).
//!
//! Two layers, as in moby/BuildKit:
//! 1. lines ([`parse`]): the BOM, parser directives at the very top (`# escape=`, `# syntax=`),
//!    comments, continuation lines joined with the escape character (comment lines inside a
//!    continuation dropped, empty ones dropped with Docker's warning), heredoc bodies after
//!    `RUN`/`COPY`/`ADD` lines (BuildKit semantics);
//! 2. instructions ([`instruction`]): the keyword (case-insensitive), `--flags`, and the
//!    arguments of each instruction, checked the way Docker checks them at parse time.
//!
//! Every [`Instruction`] keeps its 1-based start line and its original text with continuations
//! joined, which is what Docker prints as `Step n/N : <text>`.
//!
//! Not here: variable substitution ([`crate::expand`]), stages and targets ([`crate::plan`]),
//! and anything that needs the base image.

pub mod instruction;
mod run_mount;
mod words;

pub(crate) use words::heredoc_marker as words_heredoc_marker;

use api::ErrorKind;

pub use instruction::{
    ArgDecl, Command, CopyCmd, FromCmd, HealthcheckCmd, KeyValue, MountType, Network, OnBuildCmd,
    RunCmd, RunMount, ShellOrExec,
};

/// The default escape (and continuation) character.
pub const DEFAULT_ESCAPE: char = '\\';

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The parser directives found at the top.
    pub directives: Directives,
    /// Instructions in file order.
    pub instructions: Vec<Instruction>,
    /// Warnings to print before step 1 (empty continuation lines), formatted as Docker prints
    /// them, one string per output line: for each offending instruction
    /// `[WARNING]: Empty continuation line found in:` and the instruction indented by four
    /// blanks, then once `[WARNING]: Empty continuation lines will become errors in a future
    /// release.`
    pub warnings: Vec<String>,
}

/// Parser directives (`# escape=`, `# syntax=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// The escape character: `\` (default) or `` ` ``.
    pub escape: char,
    /// The `# syntax=` frontend reference; berth records it and otherwise ignores it, like the
    /// classic builder.
    pub syntax: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: DEFAULT_ESCAPE,
            syntax: None,
        }
    }
}

/// One instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line of the keyword.
    pub line: usize,
    /// 1-based last line (continuations and heredoc bodies included).
    pub end_line: usize,
    /// The source text with continuations joined and leading blanks removed; keyword case kept
    /// (`Step 1/4 : from busybox:latest`).
    pub original: String,
    /// The parsed instruction.
    pub command: Command,
    /// Heredoc bodies introduced on this line, in order (`RUN`, `COPY`, `ADD` only).
    pub heredocs: Vec<Heredoc>,
}

/// A heredoc (`<<EOF`, `<<-EOF`, `<<"EOF"`) and its body (BuildKit semantics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word without quotes.
    pub name: String,
    /// The body as written, every line ending in `\n`, terminator excluded.
    pub content: String,
    /// False when the delimiter was quoted: no variable expansion in the body.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from every body line.
    pub chomp: bool,
    /// An explicit file descriptor (`3<<EOF`), 0 when none.
    pub fd: u32,
}

impl Heredoc {
    /// The body with `<<-` tab stripping applied.
    pub fn body(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|l| l.trim_start_matches('\t'))
            .collect()
    }
}

/// A Dockerfile that cannot be parsed. `Display` is Docker's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// No instruction at all.
    #[error("the Dockerfile ({file}) cannot be empty")]
    Empty {
        /// The Dockerfile's name as the user gave it.
        file: String,
    },
    /// A line or an instruction is malformed.
    #[error("dockerfile parse error line {line}: {message}")]
    Syntax {
        /// The Dockerfile's name.
        file: String,
        /// 1-based line of the instruction (or directive) at fault.
        line: usize,
        /// What is wrong, in Docker's words where Docker has them.
        message: String,
    },
}

impl ParseError {
    /// Always the user's input.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }

    /// The 1-based line at fault, if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            ParseError::Empty { .. } => None,
            ParseError::Syntax { line, .. } => Some(*line),
        }
    }

    /// The Dockerfile's name.
    pub fn file(&self) -> &str {
        match self {
            ParseError::Empty { file } | ParseError::Syntax { file, .. } => file,
        }
    }
}

/// Parses `source` (the contents of the Dockerfile called `file`, used in messages).
pub fn parse(file: &str, source: &str) -> Result<Dockerfile, ParseError> {
    Parser::new(file, source).run()
}

/// Parses raw bytes; invalid UTF-8 is replaced (Docker would reject it later anyway).
pub fn parse_bytes(file: &str, source: &[u8]) -> Result<Dockerfile, ParseError> {
    parse(file, &String::from_utf8_lossy(source))
}

/// Parses one instruction line on its own, e.g. an `ONBUILD` trigger when it runs in a child
/// build. The line number in errors is `line`.
pub fn parse_line(
    file: &str,
    line: usize,
    text: &str,
    escape: char,
) -> Result<Instruction, ParseError> {
    let command =
        instruction::parse_command(text.trim(), escape).map_err(|message| ParseError::Syntax {
            file: file.to_string(),
            line,
            message,
        })?;
    Ok(Instruction {
        line,
        end_line: line,
        original: text.trim().to_string(),
        command,
        heredocs: Vec::new(),
    })
}

struct Parser<'a> {
    file: &'a str,
    lines: Vec<&'a str>,
    next: usize,
    directives: Directives,
    directives_done: bool,
    seen: std::collections::BTreeSet<String>,
}

impl<'a> Parser<'a> {
    fn new(file: &'a str, source: &'a str) -> Self {
        let source = source.strip_prefix('\u{feff}').unwrap_or(source);
        let lines = source
            .split_inclusive('\n')
            .map(|l| {
                let l = l.strip_suffix('\n').unwrap_or(l);
                l.strip_suffix('\r').unwrap_or(l)
            })
            .collect();
        Parser {
            file,
            lines,
            next: 0,
            directives: Directives::default(),
            directives_done: false,
            seen: Default::default(),
        }
    }

    fn error(&self, line: usize, message: impl Into<String>) -> ParseError {
        ParseError::Syntax {
            file: self.file.to_string(),
            line,
            message: message.into(),
        }
    }

    /// Takes the next raw line and its 1-based number.
    fn take(&mut self) -> Option<(usize, &'a str)> {
        let l = *self.lines.get(self.next)?;
        self.next += 1;
        Some((self.next, l))
    }

    /// Recognises `# escape=` and `# syntax=` while still at the top of the file.
    fn directive(&mut self, line_no: usize, line: &str) -> Result<(), ParseError> {
        if self.directives_done {
            return Ok(());
        }
        let Some(body) = line.strip_prefix('#') else {
            self.directives_done = true;
            return Ok(());
        };
        let Some((key, value)) = body.split_once('=') else {
            self.directives_done = true;
            return Ok(());
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        let key_ok = key.starts_with(|c: char| c.is_ascii_alphabetic())
            && key.chars().all(|c| c.is_ascii_alphanumeric());
        if !key_ok || value.is_empty() || !(key == "escape" || key == "syntax") {
            self.directives_done = true;
            return Ok(());
        }
        if !self.seen.insert(key.clone()) {
            return Err(self.error(
                line_no,
                format!("only one {key} parser directive can be used"),
            ));
        }
        if key == "escape" {
            match value {
                "\\" => self.directives.escape = '\\',
                "`" => self.directives.escape = '`',
                _ => {
                    return Err(self.error(
                        line_no,
                        format!("invalid escape token '{value}' does not match ` or \\"),
                    ))
                }
            }
        } else {
            self.directives.syntax = Some(value.to_string());
        }
        Ok(())
    }

    /// Removes a trailing escape (and blanks after it): `(text, continues)`.
    fn trim_continuation(&self, line: &'a str) -> (&'a str, bool) {
        let t = line.trim_end_matches([' ', '\t']);
        match t.strip_suffix(self.directives.escape) {
            Some(rest) => (rest, true),
            None => (line, false),
        }
    }

    fn run(mut self) -> Result<Dockerfile, ParseError> {
        let mut instructions = Vec::new();
        let mut warnings = Vec::new();
        while let Some((start, raw)) = self.take() {
            let first = raw.trim_start();
            self.directive(start, first)?;
            if first.starts_with('#') {
                continue;
            }
            let (text, mut continues) = self.trim_continuation(first);
            if !continues && text.trim().is_empty() {
                continue;
            }
            let mut line = text.to_string();
            let mut empty_continuation = false;
            while continues {
                let Some((n, raw)) = self.take() else { break };
                self.directive(n, raw.trim_start())?;
                let trimmed = raw.trim_start();
                if trimmed.starts_with('#') {
                    continue;
                }
                if trimmed.is_empty() {
                    empty_continuation = true;
                    continue;
                }
                let (text, more) = self.trim_continuation(raw);
                line.push_str(text);
                continues = more;
            }
            if line.trim().is_empty() {
                // Only a continuation character and comments: nothing to run.
                continue;
            }
            if empty_continuation {
                warnings.push("[WARNING]: Empty continuation line found in:".to_string());
                warnings.push(format!("    {line}"));
            }
            let escape = self.directives.escape;
            let command = instruction::parse_command(line.trim(), escape)
                .map_err(|m| self.error(start, m))?;
            let mut heredocs = Vec::new();
            if command.can_have_heredocs() {
                for mut doc in words::heredocs_in(&line, escape) {
                    let mut terminated = false;
                    while let Some((_, body)) = self.take() {
                        let candidate = if doc.chomp {
                            body.trim_start_matches('\t')
                        } else {
                            body
                        };
                        if candidate == doc.name {
                            terminated = true;
                            break;
                        }
                        doc.content.push_str(body);
                        doc.content.push('\n');
                    }
                    if !terminated {
                        return Err(self.error(start, "unterminated heredoc"));
                    }
                    heredocs.push(doc);
                }
            }
            instructions.push(Instruction {
                line: start,
                end_line: self.next,
                original: line.trim_start().to_string(),
                command,
                heredocs,
            });
        }
        if !warnings.is_empty() {
            // Printed once, after every offending instruction (moby's PrintWarnings).
            warnings.push(
                "[WARNING]: Empty continuation lines will become errors in a future release."
                    .to_string(),
            );
        }
        if instructions.is_empty() {
            return Err(ParseError::Empty {
                file: self.file.to_string(),
            });
        }
        Ok(Dockerfile {
            directives: self.directives,
            instructions,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests;
