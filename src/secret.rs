//! A string that must never reach the log: the OIDC token, secret keys, session tokens.
//!
//! `Secret` has no `Display`, and its `Debug` prints a placeholder, so a whole `Config`
//! can be printed at DEBUG level without leaking anything. The only way to the value is
//! [`Secret::expose`], which is called in exactly the places that hand it to AWS.

use std::fmt;

/// A value that is redacted wherever it is formatted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value read from the environment or returned by STS.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for the one call that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}
