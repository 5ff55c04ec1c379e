//! `GET /openapi.json`: the OpenAPI 3.1 document of the API (`openapi.json` beside this
//! file, written by `scripts/openapi.py`), embedded in the binary, so client authors can
//! generate code or browse it without a build step. A unit test keeps its paths equal to
//! the router's, and the test suite validates it with `openapi-spec-validator`.

/// The document as served, with the package version filled in.
pub fn document() -> Vec<u8> {
    include_str!("openapi.json")
        .replace("@VERSION@", env!("CARGO_PKG_VERSION"))
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::router::{route, ROUTES};
    use std::collections::BTreeSet;

    #[test]
    fn documents_every_route_and_nothing_else() {
        let doc: serde_json::Value = serde_json::from_slice(&document()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        let paths = doc["paths"].as_object().unwrap();
        let documented: BTreeSet<(String, String)> = paths
            .iter()
            .flat_map(|(p, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| (p.clone(), m.to_ascii_uppercase()))
            })
            .collect();
        let routed: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(r, p)| (p.to_string(), r.method().to_string()))
            .collect();
        assert_eq!(documented, routed);
        // and the router really answers each documented path and method
        for (p, m) in &documented {
            assert!(route(m, p).is_ok(), "{m} {p}");
        }
    }
}
