//! SMS through the Chinese carriers' own SP gateways (issue 14): SMGP 3.0 to China Telecom and
//! CMPP 3.0 to China Mobile, one [`GatewayClient`] over a codec per protocol, each a [`Sender`]
//! whose status reports arrive as SMPP's do, as [`DeliveryReport`](super::smpp::DeliveryReport)s.

mod client;
pub mod cmpp;
pub mod protocol;
mod session;
mod settings;
pub mod smgp;
#[cfg(test)]
mod tests;

pub use client::{national_number, GatewayClient, GatewaySetupError};
pub use settings::GatewaySettings;

use super::router::TextSender;
use super::{Message, Sender, Sending};
use cmpp::Cmpp;
use protocol::Protocol;
use smgp::Smgp;

/// SMS over SMGP 3.0 (China Telecom).
pub type SmgpSender = GatewayClient<Smgp>;
/// SMS over CMPP 3.0 (China Mobile).
pub type CmppSender = GatewayClient<Cmpp>;

impl GatewayClient<Smgp> {
    /// An SMGP client for `[delivery.smgp]`: texts as UCS-2 (MsgFormat 8), MsgType 6 (MT),
    /// priority 1; FeeType "00" (free) unless set.
    pub fn smgp(s: &GatewaySettings) -> Result<Self, GatewaySetupError> {
        let codec = Smgp {
            service_id: s.service_id.clone(),
            fee_type: s.fee_type.clone().unwrap_or_else(|| "00".into()),
            fee_code: s.fee_code.clone(),
            fixed_fee: s.fixed_fee.clone(),
            charge_term_id: s.charge_number.clone(),
            need_report: s.need_report,
            priority: 1,
            msg_format: 8,
        };
        GatewayClient::build(codec, s)
    }
}

impl GatewayClient<Cmpp> {
    /// A CMPP 3.0 client for `[delivery.cmpp]`: texts as UCS-2 (Msg_Fmt 8); FeeType "01"
    /// (free) unless set, Msg_src the account unless set.
    pub fn cmpp(s: &GatewaySettings) -> Result<Self, GatewaySetupError> {
        let codec = Cmpp {
            service_id: s.service_id.clone(),
            fee_user_type: s.fee_user_type,
            fee_terminal_id: s.charge_number.clone(),
            msg_src: s.msg_src.clone().unwrap_or_else(|| s.account.clone()),
            fee_type: s.fee_type.clone().unwrap_or_else(|| "01".into()),
            fee_code: s.fee_code.clone(),
            valid_time: String::new(),
            need_report: s.need_report,
            msg_level: 1,
        };
        GatewayClient::build(codec, s)
    }
}

/// The SMS router's way in: it picks the gateway by the number and the text by the carrier's
/// template.
impl<P: Protocol> TextSender for GatewayClient<P> {
    fn send_text<'a>(&'a self, delivery_id: &'a str, recipient: &'a str, text: &'a str) -> Sending<'a> {
        Box::pin(GatewayClient::send_text(self, delivery_id, recipient, text))
    }
}

/// Receipts and login codes alike go as their [`Message::text`].
impl<P: Protocol> Sender for GatewayClient<P> {
    fn send<'a>(&'a self, msg: &'a Message) -> Sending<'a> {
        Box::pin(async move { self.send_text(msg.delivery_id(), msg.recipient(), &msg.text()).await })
    }
}
