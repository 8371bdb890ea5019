//! Detach keys (`--detach-keys`, `detachKeys`): the key sequence that detaches a client from
//! a container's or exec's terminal without stopping it. Docker's default is `ctrl-p,ctrl-q`;
//! a spec is a comma-separated list of single characters and `ctrl-X` names (X one of `a`-`z`,
//! `@`, `[`, `\`, `]`, `^`, `_`), parsed like moby's `term.ToBytes`.

/// `ctrl-p,ctrl-q`.
pub const DEFAULT: [u8; 2] = [0x10, 0x11];

/// The bytes of a detach-key spec; the error is moby's (`Unknown character: 'x'`).
pub fn parse(spec: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in spec.split(',') {
        if key.len() == 1 {
            out.push(key.as_bytes()[0]);
            continue;
        }
        let lower = key.to_ascii_lowercase();
        let code = lower
            .strip_prefix("ctrl-")
            .and_then(|c| match c.as_bytes() {
                [b'@'] => Some(0),
                [c @ b'a'..=b'z'] => Some(c - b'a' + 1),
                [b'['] => Some(27),
                [b'\\'] => Some(28),
                [b']'] => Some(29),
                [b'^'] => Some(30),
                [b'_'] => Some(31),
                _ => None,
            });
        match code {
            Some(c) => out.push(c),
            None => return Err(format!("Unknown character: '{key}'")),
        }
    }
    Ok(out)
}

/// Watches a client's input for the detach sequence. Bytes of a partial match are held back
/// and released when the match fails; the sequence itself is never forwarded.
#[derive(Debug, Clone)]
pub struct Matcher {
    keys: Vec<u8>,
    pos: usize,
}

impl Matcher {
    /// A matcher for `keys` (non-empty).
    pub fn new(keys: Vec<u8>) -> Matcher {
        Matcher { keys, pos: 0 }
    }

    /// Feeds input: appends what is to be forwarded to `out`; true when the sequence is
    /// complete (what follows it in `input` is dropped: the client is detaching).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        for &b in input {
            if b == self.keys[self.pos] {
                self.pos += 1;
                if self.pos == self.keys.len() {
                    self.pos = 0;
                    return true;
                }
                continue;
            }
            if self.pos > 0 {
                out.extend_from_slice(&self.keys[..self.pos]);
                self.pos = 0;
                if b == self.keys[0] {
                    self.pos = 1;
                    if self.keys.len() == 1 {
                        self.pos = 0;
                        return true;
                    }
                    continue;
                }
            }
            out.push(b);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_like_moby() {
        assert_eq!(parse("ctrl-p,ctrl-q"), Ok(DEFAULT.to_vec()));
        assert_eq!(parse("ctrl-a,x,ctrl-@,ctrl-_"), Ok(vec![1, b'x', 0, 31]));
        assert_eq!(parse("CTRL-Z"), Ok(vec![26]));
        assert_eq!(parse("ctrl-1"), Err("Unknown character: 'ctrl-1'".into()));
        assert_eq!(parse("abc"), Err("Unknown character: 'abc'".into()));
    }

    #[test]
    fn matcher_holds_partial_matches_and_detaches() {
        let mut m = Matcher::new(DEFAULT.to_vec());
        let mut out = Vec::new();
        assert!(!m.feed(b"ab\x10", &mut out));
        assert_eq!(out, b"ab");
        // A failed match releases the held byte.
        assert!(!m.feed(b"c", &mut out));
        assert_eq!(out, b"ab\x10c");
        // Split across reads, then detach; the rest is dropped.
        out.clear();
        assert!(!m.feed(b"\x10", &mut out));
        assert!(m.feed(b"\x11zz", &mut out));
        assert!(out.is_empty());
        // ctrl-p ctrl-p ctrl-q: the first ctrl-p goes through.
        let mut m = Matcher::new(DEFAULT.to_vec());
        assert!(m.feed(b"\x10\x10\x11", &mut out));
        assert_eq!(out, b"\x10");
    }
}
