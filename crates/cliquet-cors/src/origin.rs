//! The allowed origins: `*`, exact origins, and shell-style patterns.

/// The origins of the `cors_origins` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origins {
    /// `*` is one of them: every origin is allowed and
    /// `Access-Control-Allow-Origin` is `*`.
    pub(crate) any: bool,
    patterns: Vec<String>,
}

impl Origins {
    pub(crate) fn new<I, T>(origins: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let mut any = false;
        let mut patterns = Vec::new();
        for origin in origins {
            let origin = origin.into();
            if origin == "*" {
                any = true;
            } else {
                patterns.push(origin);
            }
        }
        Self { any, patterns }
    }

    /// Whether `origin` matches one of the configured origins
    /// (case-sensitively).
    pub(crate) fn allows(&self, origin: &[u8]) -> bool {
        self.any
            || self
                .patterns
                .iter()
                .any(|pattern| glob_match(pattern.as_bytes(), origin))
    }
}

/// Shell-style matching, as Python's `fnmatch.fnmatchcase`: `*` matches any
/// run of bytes, `?` one byte, `[abc]`/`[a-z]` one byte of the set and
/// `[!abc]` one byte outside it; a `[` without its `]` is a literal.
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*`: its position in the pattern and
    // the text position it currently stands for.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let step = match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
                continue;
            }
            Some(b'?') => Some(1),
            Some(b'[') => match class(&pattern[p..], text[t]) {
                Some((true, len)) => Some(len),
                Some((false, _)) => None,
                None if text[t] == b'[' => Some(1),
                None => None,
            },
            Some(&c) if c == text[t] => Some(1),
            _ => None,
        };
        match step {
            Some(len) => {
                p += len;
                t += 1;
            }
            None => match star {
                // Let the last `*` swallow one more byte and retry.
                Some((star_p, star_t)) => {
                    star = Some((star_p, star_t + 1));
                    p = star_p + 1;
                    t = star_t + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class at the start of `pattern` (`[...]`):
/// whether it matched and the class's length, or `None` when the `[` has no
/// closing `]`.
fn class(pattern: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negated = matches!(pattern.get(i), Some(b'!'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let start = *pattern.get(i)?;
        if start == b']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&e| e != b']') {
            let end = pattern[i + 2];
            matched |= (start..=end).contains(&c);
            i += 3;
        } else {
            matched |= start == c;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        glob_match(pattern.as_bytes(), text.as_bytes())
    }

    #[test]
    fn literal_and_wildcards() {
        assert!(matches("http://a.com", "http://a.com"));
        assert!(!matches("http://a.com", "http://a.com.evil"));
        assert!(!matches("http://a.com", "HTTP://A.COM"));
        assert!(matches("http://*.example.com", "http://api.example.com"));
        assert!(matches("http://*.example.com", "http://a.b.example.com"));
        assert!(!matches("http://*.example.com", "http://example.com"));
        assert!(!matches("http://*.example.com", "https://api.example.com"));
        assert!(matches("*", ""));
        assert!(matches("http://localhost:????", "http://localhost:8080"));
        assert!(!matches("http://localhost:????", "http://localhost:80"));
        assert!(matches("*a*b*", "xxaxxbxx"));
        assert!(!matches("*a*b", "xxaxxbxx"));
    }

    #[test]
    fn classes() {
        assert!(matches("http://[ab].com", "http://a.com"));
        assert!(!matches("http://[ab].com", "http://c.com"));
        assert!(matches("http://[!ab].com", "http://c.com"));
        assert!(!matches("http://[!ab].com", "http://a.com"));
        assert!(matches(
            "http://localhost:80[0-9]0",
            "http://localhost:8080"
        ));
        assert!(matches("[]]", "]"));
        // An unclosed `[` is a literal.
        assert!(matches("http://[a.com", "http://[a.com"));
        assert!(!matches("http://[a.com", "http://a.com"));
    }

    #[test]
    fn origins_list() {
        let origins = Origins::new(["http://a.com", "http://*.b.com"]);
        assert!(!origins.any);
        assert!(origins.allows(b"http://a.com"));
        assert!(origins.allows(b"http://x.b.com"));
        assert!(!origins.allows(b"http://evil.com"));
        let origins = Origins::new(["http://a.com", "*"]);
        assert!(origins.any);
        assert!(origins.allows(b"http://evil.com"));
        assert!(!Origins::new(Vec::<String>::new()).allows(b"http://a.com"));
    }
}
