//! The commands besides serving: `clearsessions` and `keys` (token and
//! cookie keys alike). Each writes its
//! report to `out`, so tests can read it.

use std::io::Write;

use anyhow::Context as _;

use crate::{
    cli::{KeysAction, StoreOptions},
    cookie_session::keys::{self as cookie_keys, CookieKeyError, CookieKeys},
    stores,
    token_session::keys,
};

/// Django's `clearsessions`: deletes expired sessions and says how many.
pub async fn clear_sessions(store: &StoreOptions, out: &mut impl Write) -> anyhow::Result<()> {
    let records = stores::open(&store.url)
        .await
        .with_context(|| format!("session store {}", store.url))?;
    let deleted = records
        .delete_expired()
        .await
        .context("deleting expired sessions")?;
    writeln!(
        out,
        "Deleted {deleted} expired session(s) from {}.",
        store.url
    )?;
    Ok(())
}

pub fn manage_keys(
    action: &KeysAction,
    dir: &std::path::Path,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match action {
        KeysAction::Generate { jwt_algorithm } => {
            let existing = keys::load_all(dir)?;
            match existing.iter().find(|key| key.algorithm == *jwt_algorithm) {
                Some(key) => writeln!(
                    out,
                    "{} already has a {jwt_algorithm:?} key: {}",
                    dir.display(),
                    key.kid
                )?,
                None => writeln!(out, "generated {}", keys::generate(dir, *jwt_algorithm)?)?,
            }
            match CookieKeys::load(dir)?.sealing() {
                Some(key) => writeln!(
                    out,
                    "{} already has a cookie key: {}",
                    dir.display(),
                    key.kid
                )?,
                None => writeln!(out, "generated {}", cookie_keys::generate(dir)?)?,
            }
        }
        KeysAction::Rotate { cookie: true, .. } => {
            CookieKeys::load(dir)?;
            let kid = cookie_keys::generate(dir)?;
            writeln!(
                out,
                "generated {kid}; it seals cookies from the next start on"
            )?;
        }
        KeysAction::Rotate { jwt_algorithm, .. } => {
            keys::load_all(dir)?;
            let kid = keys::generate(dir, *jwt_algorithm)?;
            writeln!(
                out,
                "generated {kid}; it signs {jwt_algorithm:?} tokens from the next start on"
            )?;
        }
        KeysAction::Retire { kid } => match cookie_keys::retire(dir, kid) {
            Ok(()) => writeln!(
                out,
                "retired {kid}; cookies it sealed are Guests from the next start on"
            )?,
            Err(CookieKeyError::UnknownKid { .. }) => {
                keys::retire(dir, kid)?;
                writeln!(
                    out,
                    "retired {kid}; tokens it signed are refused from the next start on"
                )?;
            }
            Err(err) => return Err(err.into()),
        },
        KeysAction::List { jwt_algorithm } => {
            let mut all = keys::load_all(dir)?;
            all.sort_by(|a, b| a.kid.cmp(&b.kid));
            let signing = all
                .iter()
                .rev()
                .find(|key| key.algorithm == *jwt_algorithm)
                .map(|key| key.kid.clone());
            for key in &all {
                let signs = if Some(&key.kid) == signing.as_ref() {
                    "  (signs)"
                } else {
                    ""
                };
                writeln!(out, "{}  {:?}{signs}", key.kid, key.algorithm)?;
            }
            let cookie = CookieKeys::load(dir)?;
            // Newest first: the first seals.
            for (index, key) in cookie.newest_first().iter().enumerate().rev() {
                let seals = if index == 0 { "  (seals)" } else { "" };
                writeln!(out, "{}  cookie (AES-256-GCM){seals}", key.kid)?;
            }
            if all.is_empty() && cookie.newest_first().is_empty() {
                writeln!(out, "no keys in {}", dir.display())?;
            }
        }
    }
    Ok(())
}
