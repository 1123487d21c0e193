//! Kinto's object ids.

use cliquet_resource::{IdGenerator, Names};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/// Kinto's `NameGenerator`, for buckets, collections and groups: new ids
/// are 8 characters, the first alphanumeric and the others from
/// `[A-Za-z0-9_-]`, drawn from the operating system's random generator (a
/// UUID4's random bits); clients may use any id matching
/// `^[a-zA-Z0-9][a-zA-Z0-9_-]*$` (at most 255 bytes).
#[derive(Debug, Clone, Copy, Default)]
pub struct ShortNames;

impl IdGenerator for ShortNames {
    fn generate(&self) -> String {
        let mut id = String::with_capacity(8);
        while id.len() < 8 {
            for byte in uuid::Uuid::new_v4().as_bytes() {
                // Six bits index the 64 characters evenly; the first
                // character skips `_` and `-` (the last two) by drawing again.
                let index = usize::from(byte & 0x3f);
                if id.is_empty() && index >= 62 {
                    continue;
                }
                id.push(char::from(ALPHABET[index]));
                if id.len() == 8 {
                    break;
                }
            }
        }
        id
    }

    fn is_valid(&self, id: &str) -> bool {
        Names.is_valid(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        for _ in 0..200 {
            let id = ShortNames.generate();
            assert_eq!(id.len(), 8);
            assert!(ShortNames.is_valid(&id), "{id}");
        }
        assert_ne!(ShortNames.generate(), ShortNames.generate());
        assert!(ShortNames.is_valid("alexis_beers"));
        assert!(!ShortNames.is_valid("__beers__"));
        assert!(!ShortNames.is_valid("a.b"));
    }
}
