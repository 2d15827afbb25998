//! What a delivery is in the platform's terms: the channel it goes by, the state it is in and
//! the steps of its history. The store decodes its rows into these; the worker, the portal and
//! the JSON answers match on them, and each name is spelled once, here.

use std::fmt;
use std::str::FromStr;

use ereceipt_core::model::DeliveryChoice;

/// A stored name that is none of ours (a row written by a newer version, or by hand).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownName {
    /// What was being read: `channel`, `delivery state`, `delivery step`.
    pub kind: &'static str,
    /// The name found, shortened.
    pub value: String,
}

/// Finds the variant of `all` whose stored name is `s`.
fn by_name<T: Copy>(all: &[T], name: fn(T) -> &'static str, kind: &'static str, s: &str) -> Result<T, UnknownName> {
    all.iter().copied().find(|v| name(*v) == s).ok_or_else(|| UnknownName { kind, value: s.chars().take(32).collect() })
}

/// The channels a receipt is pushed by. (Pull is a delivery choice too, but nothing is pushed
/// for it: the customer asks for a login code and fetches the receipt.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    Email,
    Sms,
    Mms,
}

impl Channel {
    /// Every channel, in the order the portal lists them.
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Mms];

    /// The stored form, also the suffix of delivery ids (`RECEIPT.email`).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Mms => "mms",
        }
    }

    /// The channel that pushes `choice` to the customer; `None` for pull, which pushes nothing.
    pub fn pushing(choice: &DeliveryChoice) -> Option<Channel> {
        match choice {
            DeliveryChoice::Email(_) => Some(Channel::Email),
            DeliveryChoice::Sms(_) => Some(Channel::Sms),
            DeliveryChoice::Mms(_) => Some(Channel::Mms),
            DeliveryChoice::Pull(_) => None,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_name(&Channel::ALL, Channel::as_str, "channel", s)
    }
}

/// Where a delivery stands: the wire contract's five states (`ereceipt_core::contract`), the
/// same names the queue stores, so the terminal and the store can never disagree on them.
pub use ereceipt_core::contract::DeliveryState;

impl From<ereceipt_core::contract::UnknownDeliveryState> for UnknownName {
    fn from(e: ereceipt_core::contract::UnknownDeliveryState) -> Self {
        Self { kind: "delivery state", value: e.0.chars().take(32).collect() }
    }
}

/// One entry of a delivery's history: what happened, not where it stands afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryStep {
    /// Queued with its receipt.
    Queued,
    /// A claim took over an attempt that ended without an outcome.
    Interrupted,
    /// The peer accepted it.
    Sent,
    /// An attempt failed for now; queued again.
    Retry,
    /// Given up.
    Failed,
    /// The peer reported it delivered.
    Delivered,
    /// A report that is not final (deferred, forwarded …).
    Report,
    /// Not sent yet: the number had its texts for a window ([`crate::domain::limits::SendLimits`]);
    /// queued again for when the window ends.
    Held,
}

impl DeliveryStep {
    const ALL: [DeliveryStep; 8] = [
        Self::Queued,
        Self::Interrupted,
        Self::Sent,
        Self::Retry,
        Self::Failed,
        Self::Delivered,
        Self::Report,
        Self::Held,
    ];

    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Interrupted => "interrupted",
            Self::Sent => "sent",
            Self::Retry => "retry",
            Self::Failed => "failed",
            Self::Delivered => "delivered",
            Self::Report => "report",
            Self::Held => "held",
        }
    }
}

impl fmt::Display for DeliveryStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryStep {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        by_name(&Self::ALL, Self::as_str, "delivery step", s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip_and_strangers_are_named() {
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>(), Ok(c));
        }
        for s in DeliveryState::ALL {
            assert_eq!(s.as_str().parse::<DeliveryState>(), Ok(s));
        }
        for s in DeliveryStep::ALL {
            assert_eq!(s.to_string().parse::<DeliveryStep>(), Ok(s));
        }
        let e = "fax".parse::<Channel>().unwrap_err();
        assert_eq!(e.to_string(), "unknown channel \"fax\"");
        assert!("pull".parse::<Channel>().is_err(), "pull pushes nothing: no delivery row has it");
        assert!("Sent".parse::<DeliveryState>().is_err(), "names are exact");
        assert!("retry".parse::<DeliveryState>().is_err(), "a step, not a state");
    }

    #[test]
    fn only_push_choices_have_a_channel() {
        let choice = |s: &str| s.parse::<DeliveryChoice>().unwrap();
        assert_eq!(Channel::pushing(&choice("email:li.na@example.com")), Some(Channel::Email));
        assert_eq!(Channel::pushing(&choice("sms:+8613800138000")), Some(Channel::Sms));
        assert_eq!(Channel::pushing(&choice("mms:+8613800138000")), Some(Channel::Mms));
        assert_eq!(Channel::pushing(&choice("pull:+8613800138000")), None);
    }
}
