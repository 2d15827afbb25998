//! The acquirer host link: the [`Authoriser`] trait the sale path asks, the labelled simulator,
//! and the ISO 8583 link to a UnionPay-style host.

mod authoriser;
pub mod bitmap;
pub mod codec;
pub mod codes;
pub mod frame;
pub mod keys;
pub mod layout;
mod link;
pub mod mac;
mod messages;
mod settings;
mod totals;

pub use authoriser::{
    AdviceRequest, Approval, AuthorisationError, AuthorisationRequest, AuthoriseFuture, Authoriser, AuthoriserInfo,
    ReversalAck, ReversalRequest, ReverseFuture, SettleFuture, SettlementAnswer, SettlementRequest, SignInAnswer,
    SignInFuture, SignInRequest, SimulatedAuthoriser,
};
pub use link::{Iso8583Authoriser, Iso8583Config, DEFAULT_MAC_MTIS};
pub use settings::HostSettings;
