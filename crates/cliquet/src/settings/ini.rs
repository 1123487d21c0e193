//! A reader of the `.ini` files Kinto deployments use (Python's
//! `configparser` dialect, as PasteDeploy reads it).

use std::collections::BTreeMap;

/// The sections of an `.ini` text, each a list of `(key, value)` in file
/// order.
pub(crate) type Sections = BTreeMap<String, Vec<(String, String)>>;

/// Parses `text`: `[section]` headers; `key = value` or `key: value`
/// lines; lines starting with `#` or `;` are comments; indented lines
/// continue the previous value on a new line (so multi-line lists such as
/// `kinto.includes` work). Values are trimmed.
pub(crate) fn parse(text: &str) -> Result<Sections, String> {
    let mut sections = Sections::new();
    let mut current: Option<String> = None;
    let mut last_key: Option<usize> = None;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        let continues = line.starts_with([' ', '\t']) && !trimmed.is_empty();
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if trimmed.is_empty() {
            last_key = None;
            continue;
        }
        if continues && let (Some(section), Some(index)) = (&current, last_key) {
            let entries = sections.get_mut(section).expect("section exists");
            let value = &mut entries[index].1;
            if !value.is_empty() {
                value.push('\n');
            }
            value.push_str(trimmed);
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            let name = name.trim().to_owned();
            sections.entry(name.clone()).or_default();
            current = Some(name);
            last_key = None;
            continue;
        }
        let Some(section) = &current else {
            return Err(format!(
                "line {}: a setting outside any section",
                number + 1
            ));
        };
        let split = trimmed.find(['=', ':']);
        let Some(at) = split else {
            return Err(format!("line {}: expected `key = value`", number + 1));
        };
        let key = trimmed[..at].trim().to_owned();
        // As in Python's configparser, `#` and `;` after a value are part of it.
        let value = trimmed[at + 1..].trim().to_owned();
        if key.is_empty() {
            return Err(format!("line {}: empty key", number + 1));
        }
        let entries = sections.get_mut(section).expect("section exists");
        if let Some(index) = entries.iter().position(|(k, _)| *k == key) {
            entries[index].1 = value;
            last_key = Some(index);
        } else {
            entries.push((key, value));
            last_key = Some(entries.len() - 1);
        }
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinto_style_file() {
        let text = "\
# A comment
[server:main]
use = egg:waitress#main
host = 0.0.0.0
port = 8888

[app:main]
use = egg:kinto
kinto.includes = kinto.plugins.default_bucket
                 kinto.plugins.history
multiauth.policies = account basicauth
kinto.storage_url: postgresql://kinto@db/kinto
; another comment
kinto.cors_origins = *
kinto.eos_url = https://example.com/#eol
kinto.empty =
";
        let sections = parse(text).unwrap();
        assert_eq!(sections["server:main"][2], ("port".into(), "8888".into()));
        let app: BTreeMap<_, _> = sections["app:main"].iter().cloned().collect();
        assert_eq!(
            app["kinto.includes"],
            "kinto.plugins.default_bucket\nkinto.plugins.history"
        );
        assert_eq!(app["multiauth.policies"], "account basicauth");
        assert_eq!(app["kinto.storage_url"], "postgresql://kinto@db/kinto");
        assert_eq!(app["kinto.cors_origins"], "*");
        assert_eq!(app["kinto.eos_url"], "https://example.com/#eol");
        assert_eq!(app["kinto.empty"], "");
        assert_eq!(app["use"], "egg:kinto");
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            parse("key = value").unwrap_err(),
            "line 1: a setting outside any section"
        );
        assert_eq!(
            parse("[a]\njust words").unwrap_err(),
            "line 2: expected `key = value`"
        );
    }
}
