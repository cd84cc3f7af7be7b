//! What one signature and one verification cost on this machine, with the
//! keys already parsed: the floor under `set_session` and under a token's
//! first sight on `/token`. docs/performance.md quotes it.
//!
//! cargo run --release --example signature_costs

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::{hint::black_box, time::Instant};

use ed25519_dalek::{Signer as _, Verifier as _};
use hmac::Mac as _;

/// Microseconds per call of `operation`, over `runs` calls.
fn cost(runs: u32, mut operation: impl FnMut()) -> f64 {
    let started = Instant::now();
    for _ in 0..runs {
        operation();
    }
    started.elapsed().as_secs_f64() * 1e6 / f64::from(runs)
}

fn main() {
    let message = [b'x'; 300];
    let ed25519 = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let signature = ed25519.sign(&message);
    let public = ed25519.verifying_key();
    let secret = ed25519.to_bytes();
    let p256 = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let hmac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&[7; 64]).unwrap();

    println!(
        "Ed25519 sign:                        {:6.1} µs",
        cost(20_000, || {
            black_box(ed25519.sign(&message));
        })
    );
    println!(
        "Ed25519 verify:                      {:6.1} µs",
        cost(20_000, || {
            public.verify(&message, &signature).unwrap();
        })
    );
    println!(
        "Ed25519 key from its 32 secret bytes: {:6.1} µs",
        cost(20_000, || {
            black_box(ed25519_dalek::SigningKey::from_bytes(&secret));
        })
    );
    println!(
        "ECDSA P-256 sign:                    {:6.1} µs",
        cost(2_000, || {
            let signature: p256::ecdsa::Signature = p256.sign(&message);
            black_box(signature);
        })
    );
    println!(
        "HMAC-SHA256:                         {:6.1} µs",
        cost(200_000, || {
            let mut mac = hmac.clone();
            mac.update(&message);
            black_box(mac.finalize());
        })
    );
}
