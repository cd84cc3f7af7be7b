//! The algorithms a key can be made for, and what each demands of a key.

use jsonwebtoken::Algorithm;

/// The algorithms a key can be made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum KeyAlgorithm {
    #[value(name = "EdDSA")]
    EdDsa,
    #[value(name = "ES256")]
    Es256,
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "HS256")]
    Hs256,
}

impl KeyAlgorithm {
    pub fn jwt(self) -> Algorithm {
        match self {
            KeyAlgorithm::EdDsa => Algorithm::EdDSA,
            KeyAlgorithm::Es256 => Algorithm::ES256,
            KeyAlgorithm::Rs256 => Algorithm::RS256,
            KeyAlgorithm::Hs256 => Algorithm::HS256,
        }
    }

    /// The part of a key's file name that fixes its algorithm.
    pub(super) fn tag(self) -> &'static str {
        match self {
            KeyAlgorithm::EdDsa => "eddsa",
            KeyAlgorithm::Es256 => "es256",
            KeyAlgorithm::Rs256 => "rs256",
            KeyAlgorithm::Hs256 => "hs256",
        }
    }

    pub(super) fn from_tag(tag: &str) -> Option<Self> {
        [Self::EdDsa, Self::Es256, Self::Rs256, Self::Hs256]
            .into_iter()
            .find(|alg| alg.tag() == tag)
    }
}

/// An HS256 secret shorter than the hash it keys is guessable (RFC 7518 §3.2).
pub const MIN_HS256_SECRET: usize = 32;

/// RSA keys are generated at the size NIST recommends until 2030, and
/// smaller ones are refused.
pub(super) const RSA_BITS: usize = 2048;
