//! `*` wildcards in parent ids and permission object ids.
//!
//! Parent ids given to `list`, `count`, `delete_all` and `purge_deleted`, and
//! object ids given to `delete_object_permissions` and
//! `get_accessible_objects`, may contain `*`, which matches any run of
//! characters (SQL backends translate it to `LIKE` with `%`). In
//! `get_accessible_objects` with `with_children = false`, `*` does not match
//! `/`, so `/buckets/*` names buckets but not their collections.
//!
//! ```
//! use cliquet_storage::pattern::{matches, matches_segment};
//!
//! assert!(matches("/buckets/*", "/buckets/b/collections/c"));
//! assert!(!matches_segment("/buckets/*", "/buckets/b/collections/c"));
//! assert!(matches_segment("/buckets/*", "/buckets/b"));
//! ```

/// Whether `text` matches `pattern`, where `*` matches any characters.
pub fn matches(pattern: &str, text: &str) -> bool {
    glob(pattern.as_bytes(), text.as_bytes(), true)
}

/// Whether `text` matches `pattern`, where `*` matches any characters but `/`.
pub fn matches_segment(pattern: &str, text: &str) -> bool {
    glob(pattern.as_bytes(), text.as_bytes(), false)
}

/// Whether `pattern` contains a wildcard.
pub fn is_pattern(pattern: &str) -> bool {
    pattern.contains('*')
}

fn glob(pattern: &[u8], text: &[u8], cross_slash: bool) -> bool {
    // Iterative matcher with backtracking to the last star: linear in
    // practice, no recursion.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star_p, star_t)) = star {
            if !cross_slash && text[star_t] == b'/' {
                return false;
            }
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, t));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_strings_match_exactly() {
        assert!(matches("abc", "abc"));
        assert!(!matches("abc", "abcd"));
        assert!(!matches("abcd", "abc"));
        assert!(matches("", ""));
    }

    #[test]
    fn stars() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything/at/all"));
        assert!(matches(
            "/buckets/*/collections/*",
            "/buckets/a/collections/b"
        ));
        assert!(matches("a*c*e", "abcde"));
        assert!(matches("a*c*e", "acce"));
        assert!(!matches("a*c*e", "abcd"));
        assert!(matches("**", "x"));
    }

    #[test]
    fn segment_stars_stop_at_slashes() {
        assert!(matches_segment("/buckets/*", "/buckets/abc"));
        assert!(!matches_segment("/buckets/*", "/buckets/abc/groups/g"));
        assert!(matches_segment(
            "/buckets/*/groups/*",
            "/buckets/abc/groups/g"
        ));
        assert!(!matches_segment(
            "/buckets/*/groups/*",
            "/buckets/a/b/groups/g"
        ));
        assert!(matches_segment("/buckets/*", "/buckets/"));
    }
}
