//! SMS through the Chinese carriers' own SP gateways (issue 14): SMGP 3.0 to China Telecom,
//! CMPP 3.0 to China Mobile and SGIP 1.2 to China Unicom, one [`GatewayClient`] over a codec per
//! protocol, each a [`Sender`] whose status reports arrive as SMPP's do, as
//! [`DeliveryReport`](super::smpp::DeliveryReport)s (SGIP's through a [`ReportListener`]).

mod client;
pub mod cmpp;
pub mod protocol;
mod session;
mod settings;
pub mod sgip;
mod sgip_listener;
mod sgip_settings;
#[cfg(test)]
mod sgip_tests;
pub mod smgp;
#[cfg(test)]
mod tests;

pub use client::{national_number, GatewayClient, GatewaySetupError};
pub use settings::GatewaySettings;
pub use sgip_listener::ReportListener;
pub use sgip_settings::SgipSettings;

use super::router::TextSender;
use super::{Message, Sender, Sending};
use cmpp::Cmpp;
use protocol::Protocol;
use sgip::Sgip;
use smgp::Smgp;

/// SMS over SMGP 3.0 (China Telecom).
pub type SmgpSender = GatewayClient<Smgp>;
/// SMS over CMPP 3.0 (China Mobile).
pub type CmppSender = GatewayClient<Cmpp>;
/// SMS over SGIP 1.2 (China Unicom); its reports come to a [`ReportListener`].
pub type SgipSender = GatewayClient<Sgip>;

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

impl GatewayClient<Sgip> {
    /// An SGIP 1.2 client for `[delivery.sgip]`: texts as UCS-2 (MessageCoding 8), MessageType
    /// 0, MorelatetoMTFlag 2 (no MO asked for it), priority 0, ReportFlag 1 when reports are
    /// wanted; Unbind after `idle_unbind_secs` without traffic.
    pub fn sgip(s: &SgipSettings) -> Result<Self, GatewaySetupError> {
        s.check().map_err(GatewaySetupError::Invalid)?;
        let codec = Sgip {
            node_id: s.node_id,
            charge_number: s.charge_number.clone(),
            corp_id: s.corp_id.clone(),
            service_type: s.service_type.clone(),
            fee_type: s.fee_type,
            fee_value: s.fee_value.clone(),
            given_value: s.given_value.clone(),
            agent_flag: 0,
            morelateto_mt_flag: 2,
            priority: 0,
            report_flag: if s.need_report { 1 } else { 2 },
        };
        let client = GatewayClient::build(codec, &s.link())?;
        Ok(match s.idle_unbind_secs {
            0 => client,
            secs => client.with_idle_unbind(std::time::Duration::from_secs(secs)),
        })
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
