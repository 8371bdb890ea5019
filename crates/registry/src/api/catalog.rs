//! Listings: `GET /v2/<name>/tags/list` and `GET /v2/_catalog`, both paginated with `n`,
//! `last` and a `Link: <...>; rel="next"` header.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{authorize, blocking, json_response, set, AppState, Request};
use crate::auth::Need;
use crate::error::RegistryError;

/// Largest page size accepted (as distribution).
pub const MAX_PAGE: usize = 1000;

/// Pagination parameters.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Page {
    pub n: Option<usize>,
    pub last: Option<String>,
}

impl Page {
    pub(crate) fn from_query(query: &[(String, String)]) -> Result<Page, RegistryError> {
        let mut page = Page::default();
        for (k, v) in query {
            match k.as_str() {
                "n" => {
                    let n: usize = v.parse().map_err(|_| {
                        RegistryError::PaginationInvalid(format!("n={v:?} is not a number"))
                    })?;
                    if n > MAX_PAGE {
                        return Err(RegistryError::PaginationInvalid(format!(
                            "n={n} is larger than {MAX_PAGE}"
                        )));
                    }
                    page.n = Some(n);
                }
                "last" => page.last = Some(v.clone()),
                _ => {}
            }
        }
        Ok(page)
    }
}

/// Applies a page to a sorted list: the items strictly after `last`, at most `n` of them.
/// Returns the page and whether more items follow.
pub(crate) fn paginate(items: Vec<String>, page: &Page) -> (Vec<String>, bool) {
    let start = match &page.last {
        Some(last) => items.partition_point(|x| x.as_str() <= last.as_str()),
        None => 0,
    };
    let mut rest: Vec<String> = items.into_iter().skip(start).collect();
    match page.n {
        None => (rest, false),
        Some(n) => {
            let more = n > 0 && rest.len() > n;
            rest.truncate(n);
            (rest, more)
        }
    }
}

fn link(path: &str, n: usize, last: &str) -> String {
    let q = serde_urlencoded::to_string([("n", n.to_string().as_str()), ("last", last)])
        .unwrap_or_default();
    format!("<{path}?{q}>; rel=\"next\"")
}

fn page_response(
    body: serde_json::Value,
    path: &str,
    items: &[String],
    more: bool,
    page: &Page,
) -> Response {
    let mut res = json_response(StatusCode::OK, &body);
    if let (true, Some(n), Some(last)) = (more, page.n, items.last()) {
        set(&mut res, "link", link(path, n, last));
    }
    res
}

/// Lists a repository's tags.
pub(super) async fn tags(req: Request) -> Result<Response, RegistryError> {
    let page = Page::from_query(&req.query)?;
    let name = req.name.clone();
    let all = blocking(&req.store, move |s| s.tags(&name)).await?;
    let (tags, more) = paginate(all, &page);
    let body = json!({ "name": req.name.as_str(), "tags": tags });
    Ok(page_response(
        body,
        &format!("/v2/{}/tags/list", req.name),
        &tags,
        more,
        &page,
    ))
}

/// Lists repositories.
pub(super) async fn catalog(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        authorize(&app, &headers, Need::Catalog).await?;
        let store = &app.store;
        let query: Vec<(String, String)> =
            serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
                .map_err(|e| RegistryError::PaginationInvalid(e.to_string()))?;
        let page = Page::from_query(&query)?;
        let all = blocking(store, |s| s.repositories()).await?;
        let (repos, more) = paginate(all, &page);
        let body = json!({ "repositories": repos });
        Ok::<_, RegistryError>(page_response(body, "/v2/_catalog", &repos, more, &page))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> Vec<String> {
        ["a", "b", "c", "d", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn page(n: Option<usize>, last: Option<&str>) -> Page {
        Page {
            n,
            last: last.map(str::to_string),
        }
    }

    #[test]
    fn pagination_table() {
        type Case<'a> = (Option<usize>, Option<&'a str>, &'a [&'a str], bool);
        let cases: &[Case] = &[
            (None, None, &["a", "b", "c", "d", "e"], false),
            (Some(2), None, &["a", "b"], true),
            (Some(2), Some("b"), &["c", "d"], true),
            (Some(2), Some("d"), &["e"], false),
            (Some(5), None, &["a", "b", "c", "d", "e"], false),
            (Some(0), None, &[], false),
            (None, Some("bb"), &["c", "d", "e"], false),
            (Some(3), Some("z"), &[], false),
        ];
        for (n, last, want, more) in cases {
            let (got, m) = paginate(items(), &page(*n, *last));
            assert_eq!(
                got,
                want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "{n:?} {last:?}"
            );
            assert_eq!(m, *more, "{n:?} {last:?}");
        }
    }

    #[test]
    fn page_parameters() {
        let q = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert_eq!(Page::from_query(&q("n", "3")).unwrap().n, Some(3));
        for bad in ["abc", "-1", "1001"] {
            let e = Page::from_query(&q("n", bad)).unwrap_err();
            assert_eq!(e.code().as_str(), "PAGINATION_NUMBER_INVALID");
        }
    }

    #[test]
    fn link_header_escapes_last() {
        assert_eq!(
            link("/v2/_catalog", 1, "a/b"),
            "</v2/_catalog?n=1&last=a%2Fb>; rel=\"next\""
        );
    }
}
