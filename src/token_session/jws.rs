//! The two encodings of a JWS in compact serialization (RFC 7515 §7.1)
//! that both the claims and the keys need: JSON made base64url.

use jsonwebtoken::signature::Error as SignatureError;
use serde::Serialize;

/// One part of a token: `value` as JSON, base64url without padding.
pub fn json_part(value: &impl Serialize) -> Result<String, SignatureError> {
    let json = serde_json::to_vec(value).map_err(SignatureError::from_source)?;
    Ok(base64_url(&json))
}

pub fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
