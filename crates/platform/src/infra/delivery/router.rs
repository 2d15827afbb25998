//! The SMS channel as one [`Sender`] over several gateways: the recipient's number picks the
//! carrier ([`crate::domain::sms_routing`]), the carrier picks the gateway (`[delivery.routing]`)
//! and the template (`[delivery.templates]`), and the text made from it goes to that gateway's
//! [`TextSender`]. International numbers and unknown ones take the default gateway (SMPP or the
//! local outbox).

use std::collections::HashMap;

use serde::Deserialize;

use super::{Accepted, Message, SendError, Sender, Sending};
use crate::domain::sms_routing::{self, Carrier, Override, Route};
use crate::domain::sms_templates::{default_template, links_by_default, Kind, Template};

/// A gateway that takes a text for one number: an SMPP session, an SMGP, CMPP or SGIP client,
/// the local outbox's `sms.log`.
pub trait TextSender: Send + Sync {
    /// One attempt to hand `text` for `recipient` (E.164) to the gateway; `delivery_id` is the
    /// message's own id, for the gateway's reference and for a retry to be recognised.
    fn send_text<'a>(&'a self, delivery_id: &'a str, recipient: &'a str, text: &'a str) -> Sending<'a>;

    /// What an interrupted attempt at `delivery_id` already delivered, when this gateway can
    /// tell (only the local outbox can).
    fn already_sent_text(&self, _delivery_id: &str) -> Option<Accepted> {
        None
    }
}

/// A configured gateway, by protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gateway {
    /// The `[delivery.smpp]` SMSC (or the local outbox without one): the default.
    Smpp,
    /// China Telecom's SMGP 3.0.
    Smgp,
    /// China Mobile's CMPP.
    Cmpp,
    /// China Unicom's SGIP 1.2.
    Sgip,
}

impl Gateway {
    pub fn as_str(self) -> &'static str {
        match self {
            Gateway::Smpp => "smpp",
            Gateway::Smgp => "smgp",
            Gateway::Cmpp => "cmpp",
            Gateway::Sgip => "sgip",
        }
    }
}

/// `[delivery.routing]`: which gateway each carrier's numbers go through (not set: the default
/// gateway; Broadnet not set: China Mobile's), and numbers that moved carrier.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingSettings {
    pub telecom: Option<Gateway>,
    pub mobile: Option<Gateway>,
    pub unicom: Option<Gateway>,
    pub broadnet: Option<Gateway>,
    /// Ported numbers or blocks: `{ prefix = "+8613800138000", carrier = "unicom" }`.
    pub overrides: Vec<Override>,
}

impl RoutingSettings {
    /// The gateway of `route`.
    pub fn gateway(&self, route: Route) -> Gateway {
        let chosen = match route {
            Route::Carrier(Carrier::Telecom) => self.telecom,
            Route::Carrier(Carrier::Mobile) => self.mobile,
            Route::Carrier(Carrier::Unicom) => self.unicom,
            Route::Carrier(Carrier::Broadnet) => self.broadnet.or(self.mobile),
            Route::Default => None,
        };
        chosen.unwrap_or(Gateway::Smpp)
    }

    pub fn check(&self) -> Result<(), String> {
        self.overrides.iter().try_for_each(|o| o.check().map_err(|e| format!("delivery.routing: {e}")))
    }
}

/// One carrier's templates; a template not set is the built-in one.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CarrierTemplates {
    pub receipt: Option<Template>,
    pub login_code: Option<Template>,
}

/// `[delivery.templates]`: per carrier (Broadnet uses China Mobile's) and for the default route.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplateSettings {
    pub telecom: CarrierTemplates,
    pub mobile: CarrierTemplates,
    pub unicom: CarrierTemplates,
    pub default: CarrierTemplates,
}

impl TemplateSettings {
    /// The template of `kind` for `route`: the setting, else the built-in one with links where
    /// the carrier lets them through.
    pub fn template(&self, route: Route, kind: Kind) -> Template {
        let set = match route {
            Route::Carrier(c) => match c.network() {
                Carrier::Telecom => &self.telecom,
                Carrier::Unicom => &self.unicom,
                Carrier::Mobile | Carrier::Broadnet => &self.mobile,
            },
            Route::Default => &self.default,
        };
        let chosen = match kind {
            Kind::Receipt => &set.receipt,
            Kind::LoginCode => &set.login_code,
        };
        chosen.clone().unwrap_or_else(|| default_template(kind, links_by_default(route)))
    }

    pub fn check(&self) -> Result<(), String> {
        let sets = [("telecom", &self.telecom), ("mobile", &self.mobile), ("unicom", &self.unicom)];
        for (name, set) in sets.into_iter().chain([("default", &self.default)]) {
            for (kind, key, t) in
                [(Kind::Receipt, "receipt", &set.receipt), (Kind::LoginCode, "login_code", &set.login_code)]
            {
                if let Some(t) = t {
                    t.check(kind).map_err(|e| format!("delivery.templates.{name}.{key}: {e}"))?;
                }
            }
        }
        Ok(())
    }
}

/// The SMS channel: routes each message to its carrier's gateway with its carrier's text.
pub struct SmsRouter {
    default: Box<dyn TextSender>,
    gateways: HashMap<Gateway, Box<dyn TextSender>>,
    routing: RoutingSettings,
    templates: TemplateSettings,
}

impl SmsRouter {
    /// Every route through `default` (the SMPP session or the local outbox) until gateways are
    /// added.
    pub fn new(default: Box<dyn TextSender>, routing: RoutingSettings, templates: TemplateSettings) -> Self {
        Self { default, gateways: HashMap::new(), routing, templates }
    }

    /// Adds the client of `gateway` (SMGP, CMPP, SGIP).
    pub fn with_gateway(mut self, gateway: Gateway, sender: Box<dyn TextSender>) -> Self {
        self.gateways.insert(gateway, sender);
        self
    }

    /// Refuses routing to a gateway that is not set up: the texts would otherwise go elsewhere
    /// without anyone noticing.
    pub fn check(&self) -> Result<(), String> {
        for carrier in Carrier::ALL {
            let g = self.routing.gateway(Route::Carrier(carrier));
            if g != Gateway::Smpp && !self.gateways.contains_key(&g) {
                return Err(format!("delivery.routing: {carrier} goes to {}, which is not set up", g.as_str()));
            }
        }
        // A gateway set up but routed to by no carrier would take nothing, silently.
        for g in self.gateways.keys() {
            if !Carrier::ALL.iter().any(|&c| self.routing.gateway(Route::Carrier(c)) == *g) {
                let name = g.as_str();
                return Err(format!(
                    "delivery.{name} is set up but no carrier goes to it: set delivery.routing's \
                     telecom, mobile, unicom or broadnet = \"{name}\""
                ));
            }
        }
        Ok(())
    }

    fn gateway(&self, route: Route) -> &dyn TextSender {
        match self.routing.gateway(route) {
            Gateway::Smpp => self.default.as_ref(),
            g => self.gateways.get(&g).map_or(self.default.as_ref(), |s| s.as_ref()),
        }
    }

    /// The route and text of `msg`: the carrier's template filled in and checked.
    pub fn text(&self, msg: &Message) -> Result<(Route, Template, String), SendError> {
        let route = sms_routing::route(msg.recipient(), &self.routing.overrides);
        let (kind, values): (Kind, Vec<(&str, &str)>) = match msg {
            Message::Receipt(r) => (
                Kind::Receipt,
                vec![
                    ("merchant", r.merchant_name.as_str()),
                    ("amount", r.amount.as_str()),
                    ("card", r.masked_pan.as_str()),
                    ("time", r.time_local.as_str()),
                    ("receipt", r.receipt_id.as_str()),
                    ("code", r.pull_code.as_str()),
                    ("link", r.link.as_str()),
                ],
            ),
            Message::LoginCode(c) => (Kind::LoginCode, vec![("code", c.code.as_str()), ("link", c.link.as_str())]),
        };
        let template = self.templates.template(route, kind);
        let text = template.render(&values).map_err(|e| {
            let to = match route {
                Route::Carrier(c) => c.as_str(),
                Route::Default => "default",
            };
            SendError::Permanent(format!("the {to} template cannot carry this message: {e}"))
        })?;
        Ok((route, template, text))
    }
}

impl Sender for SmsRouter {
    fn send<'a>(&'a self, msg: &'a Message) -> Sending<'a> {
        Box::pin(async move {
            let (route, template, text) = self.text(msg)?;
            let mut accepted = self.gateway(route).send_text(msg.delivery_id(), msg.recipient(), &text).await?;
            if let Some(id) = &template.template_id {
                accepted.answer = format!("{} (template {id})", accepted.answer);
            }
            Ok(accepted)
        })
    }

    fn already_sent(&self, msg: &Message) -> Option<Accepted> {
        let route = sms_routing::route(msg.recipient(), &self.routing.overrides);
        self.gateway(route).already_sent_text(msg.delivery_id())
    }
}

#[cfg(test)]
mod tests;
