//! What one signature and one verification cost on this machine, with the
//! keys already parsed: the floor under `set_session` and under a token's
//! first sight on `/token`. docs/performance.md quotes it.
//!
//! cargo bench --bench signature_costs

#![allow(clippy::unwrap_used)]

use divan::{Bencher, black_box};
use ed25519_dalek::{Signer as _, Verifier as _};
use hmac::Mac as _;

/// About the size of the signing input of a token this server issues.
const MESSAGE: [u8; 300] = [b'x'; 300];

fn main() {
    divan::main();
}

#[divan::bench]
fn ed25519_sign(bencher: Bencher<'_, '_>) {
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    bencher.bench_local(|| key.sign(black_box(&MESSAGE)));
}

#[divan::bench]
fn ed25519_verify(bencher: Bencher<'_, '_>) {
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let signature = key.sign(&MESSAGE);
    let public = key.verifying_key();
    bencher.bench_local(|| public.verify(black_box(&MESSAGE), &signature).unwrap());
}

#[divan::bench]
fn ed25519_key_from_its_secret_bytes(bencher: Bencher<'_, '_>) {
    let secret = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng).to_bytes();
    bencher.bench_local(|| ed25519_dalek::SigningKey::from_bytes(black_box(&secret)));
}

#[divan::bench]
fn ecdsa_p256_sign(bencher: Bencher<'_, '_>) {
    let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    bencher.bench_local(|| -> p256::ecdsa::Signature { key.sign(black_box(&MESSAGE)) });
}

#[divan::bench]
fn hmac_sha256(bencher: Bencher<'_, '_>) {
    let hmac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&[7; 64]).unwrap();
    bencher.bench_local(|| {
        let mut mac = hmac.clone();
        mac.update(black_box(&MESSAGE));
        mac.finalize()
    });
}
