//! A form posted from another site is refused before anything changes.
//! SameSite=Lax already keeps our cookies off such a post, but a login needs
//! no cookie: without this, another site could log a visitor in under a name
//! of its choosing (login CSRF).

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, header, request::Parts},
};

use super::error::AppError;

/// Taken by every view that changes state on a POST: its extraction fails
/// with a 403 page when the browser says the post came from another site.
/// Browsers say where a post comes from in `Sec-Fetch-Site` and `Origin`;
/// clients that send neither are not browsers acting for someone else, and
/// pass.
#[derive(Debug)]
pub struct SameSitePost;

impl<S: Send + Sync> FromRequestParts<S> for SameSitePost {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        if is_cross_site(&parts.headers) {
            Err(AppError::CrossSite)
        } else {
            Ok(SameSitePost)
        }
    }
}

/// `Sec-Fetch-Site` decides when the browser sends it: only `same-origin`
/// and `none` (typed by the user) pass, whatever a proxy did to `Host`.
/// Older browsers send only `Origin`, which must then name the `Host` asked
/// for; `Origin: null` (sandboxed frames, privacy redirects) never does.
fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site != "same-origin" && site != "none";
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let origin_authority = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, authority)| authority);
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    origin_authority.is_none() || origin_authority != host
}
