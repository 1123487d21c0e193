//! Object ids: how they are made, and which ones clients may choose.

use std::fmt;

/// Makes the ids of new objects and tells which ids clients may use (in a
/// `PUT` URL or a `POST`ed `data.id`).
pub trait IdGenerator: Send + Sync + 'static {
    /// A new, unique id.
    fn generate(&self) -> String;

    /// Whether `id` is acceptable.
    fn is_valid(&self, id: &str) -> bool;
}

impl fmt::Debug for dyn IdGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdGenerator")
    }
}

/// The default: lower-case UUID4s (`8-4-4-4-12` hex digits), and only
/// those.
#[derive(Debug, Clone, Copy, Default)]
pub struct Uuid4;

impl IdGenerator for Uuid4 {
    fn generate(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }

    fn is_valid(&self, id: &str) -> bool {
        let bytes = id.as_bytes();
        bytes.len() == 36
            && bytes.iter().enumerate().all(|(i, &c)| match i {
                8 | 13 | 18 | 23 => c == b'-',
                _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
            })
    }
}

/// UUID4s for new objects, and any name matching
/// `^[a-zA-Z0-9][a-zA-Z0-9_-]*$` (at most 255 bytes) from clients: the base
/// rule of the protocol's custom generators.
#[derive(Debug, Clone, Copy, Default)]
pub struct Names;

impl IdGenerator for Names {
    fn generate(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }

    fn is_valid(&self, id: &str) -> bool {
        let bytes = id.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= 255
            && bytes[0].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid4_ids() {
        let id = Uuid4.generate();
        assert!(Uuid4.is_valid(&id));
        assert!(!Uuid4.is_valid("abc"));
        assert!(!Uuid4.is_valid(&id.to_uppercase()));
        assert!(!Uuid4.is_valid(&id.replace('-', "_")));
    }

    #[test]
    fn name_ids() {
        assert!(Names.is_valid("a_b-9"));
        assert!(!Names.is_valid("-a"));
        assert!(!Names.is_valid(""));
        assert!(!Names.is_valid("a/b"));
        assert!(!Names.is_valid(&"a".repeat(256)));
        assert!(Names.is_valid(&Names.generate()));
    }
}
