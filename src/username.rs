//! The one piece of visitor input: the username of the login form.

use std::fmt;

/// A username that passed validation. Django's user model allows 150
/// characters; control characters could forge log lines or break pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

pub const MAX_USERNAME_CHARS: usize = 150;

/// What the reference view stores when no name is given.
pub const SEED_USERNAME: &str = "john_doe";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidUsername {
    #[error("Enter a username.")]
    Empty,
    #[error("A username has at most {MAX_USERNAME_CHARS} characters; this one has {0}.")]
    TooLong(usize),
    #[error("A username cannot contain control characters such as line breaks or tabs.")]
    ControlCharacter,
}

impl Username {
    /// Validates form input. Surrounding whitespace is dropped first, as
    /// Django's form fields do.
    pub fn parse(input: &str) -> Result<Self, InvalidUsername> {
        let name = input.trim();
        let chars = name.chars().count();
        if chars == 0 {
            return Err(InvalidUsername::Empty);
        }
        if chars > MAX_USERNAME_CHARS {
            return Err(InvalidUsername::TooLong(chars));
        }
        if name.chars().any(char::is_control) {
            return Err(InvalidUsername::ControlCharacter);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn seed() -> Self {
        Self(SEED_USERNAME.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ordinary_name_is_accepted() {
        assert_eq!(Username::parse("alice").unwrap().as_str(), "alice");
    }

    #[test]
    fn surrounding_whitespace_is_dropped() {
        assert_eq!(Username::parse("  bob \n").unwrap().as_str(), "bob");
    }

    #[test]
    fn an_empty_or_blank_name_is_refused() {
        assert_eq!(Username::parse(""), Err(InvalidUsername::Empty));
        assert_eq!(Username::parse("   "), Err(InvalidUsername::Empty));
    }

    #[test]
    fn the_limit_counts_characters_not_bytes() {
        let at_limit = "é".repeat(MAX_USERNAME_CHARS);
        assert!(Username::parse(&at_limit).is_ok());
        let over = "é".repeat(MAX_USERNAME_CHARS + 1);
        assert_eq!(Username::parse(&over), Err(InvalidUsername::TooLong(151)));
    }

    #[test]
    fn control_characters_inside_are_refused() {
        assert_eq!(
            Username::parse("a\nb"),
            Err(InvalidUsername::ControlCharacter)
        );
        assert_eq!(
            Username::parse("a\u{0}b"),
            Err(InvalidUsername::ControlCharacter)
        );
        assert_eq!(
            Username::parse("a\u{7f}b"),
            Err(InvalidUsername::ControlCharacter)
        );
    }

    #[test]
    fn markup_is_a_valid_name_because_pages_escape_it() {
        assert!(Username::parse("<script>alert(1)</script>").is_ok());
    }
}
