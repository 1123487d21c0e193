//! The `Next-Page` URL.

use crate::PaginationToken;

/// The `Next-Page` header value: `url` (the absolute URL of the current
/// request) with its querystring kept — every parameter once, at its first
/// position, with its last value — and `_limit` and `_token` set to `limit`
/// and the encoded `token` (replaced where they were, appended otherwise).
/// The querystring is form-urlencoded again (`+` for spaces); a fragment is
/// dropped.
///
/// ```
/// use cliquet_filter::{PaginationToken, SortField, next_page_url};
/// use serde_json::json;
///
/// let token = PaginationToken::new(&[SortField::desc("last_modified")], &json!({"last_modified": 7}), 2);
/// let url = next_page_url("http://localhost/v1/things?a=1&_token=old&a=2", 2, &token);
/// assert!(url.starts_with("http://localhost/v1/things?a=2&_token="));
/// assert!(url.ends_with("&_limit=2"));
/// ```
pub fn next_page_url(url: &str, limit: usize, token: &PaginationToken) -> String {
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<(String, String)> = Vec::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match params.iter_mut().find(|(n, _)| *n == name) {
            Some(param) => param.1 = value.into_owned(),
            None => params.push((name.into_owned(), value.into_owned())),
        }
    }
    for (name, value) in [("_limit", limit.to_string()), ("_token", token.encode())] {
        match params.iter_mut().find(|(n, _)| n == name) {
            Some(param) => param.1 = value,
            None => params.push((name.to_owned(), value)),
        }
    }
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    serializer.extend_pairs(&params);
    format!("{base}?{}", serializer.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn token() -> PaginationToken {
        PaginationToken {
            last_object: Map::new(),
            offset: 1,
            nonce: "n".into(),
        }
    }

    #[test]
    fn appends_limit_and_token() {
        let url = next_page_url("http://localhost/v1/things", 2, &token());
        assert_eq!(
            url,
            format!(
                "http://localhost/v1/things?_limit=2&_token={}",
                form_urlencoded::byte_serialize(token().encode().as_bytes()).collect::<String>()
            )
        );
        assert!(url.contains("%3D"), "{url}");
    }

    #[test]
    fn keeps_parameters_with_their_last_value() {
        let url = next_page_url(
            "http://h/v1/things?_limit=5&name=a+b&tag=x&tag=y&_sort=-title#frag",
            5,
            &token(),
        );
        let (_, query) = url.split_once('?').unwrap();
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("_limit".into(), "5".into()),
                ("name".into(), "a b".into()),
                ("tag".into(), "y".into()),
                ("_sort".into(), "-title".into()),
                ("_token".into(), token().encode()),
            ]
        );
    }
}
