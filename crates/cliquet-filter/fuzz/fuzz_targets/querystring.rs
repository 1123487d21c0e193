//! Arbitrary bytes as a querystring: the parser must answer a query or a
//! 400 errno 107, and whatever it parsed must evaluate without panicking.

#![no_main]

use cliquet_filter::{PaginationToken, ParseOptions, Query, next_page_url};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(querystring) = std::str::from_utf8(data) else {
        return;
    };
    let options = ParseOptions::new()
        .paginate_by(Some(10))
        .known_fields(["a", "o", "tags"]);
    for options in [ParseOptions::new(), options] {
        match Query::parse(querystring, &options) {
            Ok(query) => {
                let objects = [
                    json!({"id": "a", "last_modified": 1, "a": [1, "x", {"k": null}], "o": {"k": 2}}),
                    json!({"id": "b", "last_modified": 2, "a": "text", "tags": []}),
                    json!({"id": "c", "last_modified": 3, "deleted": true}),
                ];
                let page = query.apply(&objects, query.limit + 1);
                if let Some(last) = page.last() {
                    let token = query.next_token(last, page.len() as u64);
                    let decoded = PaginationToken::decode(&token.encode()).expect("own token");
                    assert_eq!(decoded, token);
                    let _ = next_page_url(&format!("http://h/v1/x?{querystring}"), query.limit, &token);
                    let _ = query.project(last);
                }
                let _ = query.pagination_rules();
            }
            Err(error) => {
                assert_eq!(error.code().as_u16(), 400);
                assert_eq!(error.errno().as_u16(), 107);
            }
        }
    }
    let _ = PaginationToken::decode(querystring);
});
