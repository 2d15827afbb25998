//! The customer's delivery choice (T3): where the receipt goes, chosen at the terminal. It
//! travels inside the sealed upload and is stored with the receipt, never printed on it.

use std::fmt;
use std::str::FromStr;

use super::ModelError;

fn invalid(field: &'static str, expected: &'static str) -> ModelError {
    ModelError::Invalid { field, expected }
}

/// A phone number in E.164 form: `+`, country code, subscriber number; 8 to 15 digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PhoneNumber {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        // Spaces and dashes are how people write numbers; they are not part of the number.
        let compact: String = s.trim().chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
        let digits = compact.strip_prefix('+').unwrap_or("");
        let ok =
            (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
        if ok {
            Ok(Self(compact))
        } else {
            Err(invalid("phone number", "E.164: + then 8 to 15 digits, e.g. +8613800138000"))
        }
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address: `local@domain`, the practical subset of RFC 5321 that mail servers accept
/// (no quoted local parts, no IP literals), at most 254 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Email {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        let s = s.trim();
        let bad = || invalid("email address", "name@example.com");
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c) || !c.is_ascii());
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && domain.len() <= 253
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
            });
        if s.len() <= 254 && local_ok && domain_ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(bad())
        }
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How the customer wants the receipt.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryChoice {
    /// A text message with a link.
    Sms(PhoneNumber),
    /// A picture message with the receipt image.
    Mms(PhoneNumber),
    /// An email with the image attached.
    Email(Email),
    /// Nothing is pushed: a one-time login code goes to this number, the customer pulls.
    Pull(PhoneNumber),
}

impl DeliveryChoice {
    /// The channel's name: `sms`, `mms`, `email`, `pull`.
    pub fn channel(&self) -> &'static str {
        match self {
            Self::Sms(_) => "sms",
            Self::Mms(_) => "mms",
            Self::Email(_) => "email",
            Self::Pull(_) => "pull",
        }
    }

    /// The number or address.
    pub fn recipient(&self) -> &str {
        match self {
            Self::Sms(p) | Self::Mms(p) | Self::Pull(p) => p.as_str(),
            Self::Email(e) => e.as_str(),
        }
    }
}

impl FromStr for DeliveryChoice {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        let (channel, to) = s
            .trim()
            .split_once(':')
            .ok_or_else(|| invalid("delivery", "sms:+NUMBER, mms:+NUMBER, email:ADDRESS or pull:+NUMBER"))?;
        match channel.to_ascii_lowercase().as_str() {
            "sms" => Ok(Self::Sms(to.parse()?)),
            "mms" => Ok(Self::Mms(to.parse()?)),
            "email" | "mailto" => Ok(Self::Email(to.parse()?)),
            "pull" => Ok(Self::Pull(to.parse()?)),
            _ => Err(invalid("delivery channel", "sms, mms, email or pull")),
        }
    }
}

impl fmt::Display for DeliveryChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.channel(), self.recipient())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_print_back() {
        for s in ["sms:+8613800138000", "mms:+8613800138000", "email:li.na@example.com", "pull:+85291234567"] {
            let c: DeliveryChoice = s.parse().unwrap();
            assert_eq!(c.to_string(), s);
        }
        let c: DeliveryChoice = "SMS: +86 138-0013-8000".parse().unwrap();
        assert_eq!(c, DeliveryChoice::Sms("+8613800138000".parse().unwrap()));
        let c: DeliveryChoice = "email:张伟@例子.中国".parse().unwrap();
        assert_eq!(c.recipient(), "张伟@例子.中国");
    }

    #[test]
    fn a_refused_address_is_never_repeated_back() {
        // The ingest log and the terminal UI print these errors; the typed address is PII.
        for s in ["sms:+86 4111111111111111", "email:4111111111111111", "pull:4111111111111111"] {
            let text = s.parse::<DeliveryChoice>().expect_err("refused").to_string();
            assert!(!text.contains("4111111111111111"), "{text}");
        }
    }

    #[test]
    fn bad_choices_say_what_is_wrong() {
        for (s, why) in [
            ("fax:+8613800138000", "delivery channel"),
            ("+8613800138000", "sms:+NUMBER"),
            ("sms:13800138000", "E.164"),
            ("sms:+86", "E.164"),
            ("sms:+0123456789", "E.164"),
            ("sms:+86138001380001234", "E.164"),
            ("mms:+86abc", "E.164"),
            ("email:no-at-sign", "email address"),
            ("email:a@b", "email address"),
            ("email:a..b@example.com", "email address"),
            ("email:a@-x.com", "email address"),
            ("email:a b@example.com", "email address"),
            ("pull:", "E.164"),
        ] {
            let err = s.parse::<DeliveryChoice>().unwrap_err().to_string();
            assert!(err.contains(why), "{s}: {err}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics_and_accepted_values_round_trip(s in "\\PC{0,60}") {
            if let Ok(c) = s.parse::<DeliveryChoice>() {
                proptest::prop_assert_eq!(c.to_string().parse::<DeliveryChoice>().unwrap(), c);
            }
        }
    }
}
