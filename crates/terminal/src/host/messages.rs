//! Which fields each host message carries and what an answer must hold, for the UnionPay-style
//! profile (docs/host-link.md): pure, so every rule is tested without a socket.

use chrono::{Datelike, NaiveDate, Timelike};
use ereceipt_core::card::AuthorisationData;
use ereceipt_core::model::{LocalTime, Money, TransactionType};

use super::authoriser::{
    AdviceRequest, Approval, AuthorisationError, AuthorisationRequest, ReversalRequest, SettlementAnswer,
    SettlementRequest, SignInRequest,
};
use super::codec::{Message, Mti};
use super::codes;
use crate::outbox::{Operation, ReversalReason, Trace};

/// Field 22: magnetic stripe read, no PIN (the terminal has no PIN pad).
const ENTRY_SWIPE_NO_PIN: &str = "022";

/// How the profile's table (docs/host-link.md) sends one kind of operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Profile {
    pub mti: &'static str,
    /// Field 3, the processing code.
    pub processing: &'static str,
    /// Field 25: `00` a normal presentment, `06` a pre-authorisation's family.
    pub condition: &'static str,
    /// Field 60.1, the message's type.
    pub type_code: &'static str,
}

/// The message an operation is sent as: sale 0200 `000000`/`00`/22; pre-auth 0100
/// `030000`/`06`/10; completion 0200 `000000`/`06`/20; void 0200 `200000`, `00`/23 of a sale or
/// `06`/21 of a completion; refund (an advice) 0220 `200000`/`00`/25.
pub(super) fn profile(op: &Operation) -> Profile {
    let p = |mti, processing, condition, type_code| Profile { mti, processing, condition, type_code };
    match (op.kind, op.voids) {
        (TransactionType::PreAuth, _) => p("0100", "030000", "06", "10"),
        (TransactionType::PreAuthCompletion, _) => p("0200", "000000", "06", "20"),
        (TransactionType::Void, Some(TransactionType::PreAuthCompletion)) => p("0200", "200000", "06", "21"),
        (TransactionType::Void, _) => p("0200", "200000", "00", "23"),
        (TransactionType::Refund, _) => p("0220", "200000", "00", "25"),
        (TransactionType::Sale, _) => p("0200", "000000", "00", "22"),
    }
}

/// Field 61: the original's batch, trace and local date (MMDD), zeros where not known.
fn field61(batch: Option<u32>, trace: Option<u32>, date: NaiveDate) -> String {
    format!("{:06}{:06}{:02}{:02}", batch.unwrap_or(0), trace.unwrap_or(0), date.month(), date.day())
}

/// Fields 37, 38 and 61 naming the original: a void names all of it, a refund its RRN and
/// date, a completion the pre-authorisation's code and date.
fn original_fields(m: &mut Message, op: &Operation) {
    let Some(o) = &op.original else { return };
    match op.kind {
        TransactionType::Void => {
            if let Some(rrn) = &o.rrn {
                m.set_text(37, rrn.as_str());
            }
            if let Some(code) = &o.auth_code {
                m.set_text(38, code.as_str());
            }
            m.set_digits(61, field61(o.batch.map(|b| b.value()), o.voucher.map(|v| v.value()), o.date));
        }
        TransactionType::Refund => {
            if let Some(rrn) = &o.rrn {
                m.set_text(37, rrn.as_str());
            }
            m.set_digits(61, field61(None, None, o.date));
        }
        TransactionType::PreAuthCompletion => {
            if let Some(code) = &o.auth_code {
                m.set_text(38, code.as_str());
            }
            m.set_digits(61, field61(None, None, o.date));
        }
        TransactionType::Sale | TransactionType::PreAuth => {}
    }
}

/// The message type a request is answered with (0200 → 0210).
pub(super) fn answer_mti(request: Mti) -> Result<Mti, AuthorisationError> {
    let n: u16 = request.as_str().parse().map_err(|_| bad_request("MTI"))?;
    Mti::new(&format!("{:04}", n + 10)).map_err(|_| bad_request("MTI"))
}

fn bad_request(what: &str) -> AuthorisationError {
    AuthorisationError::NotSent(format!("the request's {what} cannot be encoded"))
}

fn mti(s: &str) -> Result<Mti, AuthorisationError> {
    Mti::new(s).map_err(|_| bad_request("MTI"))
}

/// 60: type, batch, network management code.
fn field60(kind: &str, batch: u32, network: &str) -> String {
    format!("{kind}{batch:06}{network}")
}

fn amount(m: Money) -> Result<String, AuthorisationError> {
    if m.minor() > 999_999_999_999 {
        return Err(AuthorisationError::NotSent(format!("amount {m} does not fit ISO 8583 field 4")));
    }
    Ok(format!("{:012}", m.minor()))
}

fn local_time(message: &mut Message, time: LocalTime) {
    let t = time.local();
    message.set_digits(12, format!("{:02}{:02}{:02}", t.hour(), t.minute(), t.second()));
    message.set_digits(13, format!("{:02}{:02}", t.month(), t.day()));
}

/// The operator as field 63 carries it: three characters, space padded.
fn operator(op: &str) -> String {
    format!("{op:<3}")
}

/// Where card data goes in a sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CardFields {
    /// Also send the PAN in field 2 beside a clear track 2.
    pub send_pan: bool,
    /// The binary field an encrypting reader's output goes in: the reader's key serial number
    /// (10 bytes) followed by its encrypted track 2, for the acquirer to decrypt.
    pub encrypted: u8,
}

/// A financial request: sale, pre-authorisation, completion, void or refund (as [`profile`]
/// says), with the original's fields. A clear track 2 (test terminals) goes in field 35, and
/// the PAN in field 2 when asked; an encrypting reader's output in the `encrypted` field,
/// untouched.
pub(super) fn financial(r: &AuthorisationRequest<'_>, card: CardFields) -> Result<Message, AuthorisationError> {
    let p = profile(r.operation);
    let mut m = Message::new(mti(p.mti)?);
    m.set_digits(3, p.processing).set_digits(4, amount(r.amount)?).set_digits(11, format!("{:06}", r.trace.trace));
    local_time(&mut m, r.time);
    m.set_digits(22, ENTRY_SWIPE_NO_PIN).set_digits(25, p.condition);
    original_fields(&mut m, r.operation);
    match r.card_data {
        AuthorisationData::Clear { pan, track2: Some(track2), .. } => {
            if card.send_pan {
                m.set_digits(2, pan.expose_digits());
            }
            m.set_digits(35, track2.expose());
        }
        AuthorisationData::Clear { track2: None, .. } => {
            return Err(AuthorisationError::NotSent(
                "the card's track 2 was not read, and this host profile authorises by track 2: swipe again".into(),
            ))
        }
        AuthorisationData::Encrypted { ciphertext, .. } if ciphertext.is_empty() => {
            return Err(AuthorisationError::NotSent(
                "the reader could not read track 2, which this host profile authorises by: swipe again".into(),
            ))
        }
        AuthorisationData::Encrypted { ksn, ciphertext, .. } => {
            let mut data = Vec::with_capacity(ksn.len() + ciphertext.len());
            data.extend_from_slice(ksn);
            data.extend_from_slice(ciphertext);
            m.set_bytes(card.encrypted, data);
        }
    }
    m.set_text(41, r.terminal_id.as_str()).set_text(42, r.merchant_id.as_str());
    m.set_text(49, format!("{:03}", r.amount.currency().numeric()));
    m.set_digits(60, field60(p.type_code, r.trace.batch, "000"));
    m.set_text(63, operator(r.operator.as_str()));
    Ok(m)
}

/// A refund's advice sent again (0220): the first sending's fields from the journal, without
/// card data.
pub(super) fn advice_again(r: &AdviceRequest<'_>) -> Result<Message, AuthorisationError> {
    if !r.operation.is_advice() {
        return Err(AuthorisationError::NotSent(format!("a {} is not an advice", r.operation.kind)));
    }
    let p = profile(r.operation);
    let mut m = Message::new(mti(p.mti)?);
    m.set_digits(3, p.processing).set_digits(4, amount(r.amount)?).set_digits(11, format!("{:06}", r.trace.trace));
    local_time(&mut m, r.time);
    m.set_digits(22, ENTRY_SWIPE_NO_PIN).set_digits(25, p.condition);
    original_fields(&mut m, r.operation);
    m.set_text(41, r.terminal_id.as_str()).set_text(42, r.merchant_id.as_str());
    m.set_text(49, format!("{:03}", r.amount.currency().numeric()));
    m.set_digits(60, field60(p.type_code, r.trace.batch, "000"));
    m.set_text(63, operator(r.operator.unwrap_or("01")));
    Ok(m)
}

/// The settlement (0500) of a batch: 11, 41, 42, 48, 49, 60 (`00` + batch + `201`), 63.
pub(super) fn settlement(r: &SettlementRequest<'_>) -> Result<Message, AuthorisationError> {
    let mut m = Message::new(mti("0500")?);
    m.set_digits(11, format!("{:06}", r.trace.trace));
    m.set_text(41, r.terminal_id.as_str()).set_text(42, r.merchant_id.as_str());
    m.set_digits(48, super::totals::field48(r.totals, '0')?);
    m.set_text(49, format!("{:03}", r.currency.numeric()));
    m.set_digits(60, field60("00", r.trace.batch, "201"));
    m.set_text(63, operator(r.operator.as_str()));
    Ok(m)
}

/// The host's answer to a settlement: 39 = 00 and field 48 of 62 digits whose reconciliation
/// codes (its 31st and 62nd digits) say per card group whether the totals balanced.
pub(super) fn settlement_answer(answer: &Message, sent: String) -> Result<SettlementAnswer, AuthorisationError> {
    let code = response_code(answer)?;
    if code != "00" {
        return Err(declined(code));
    }
    let f48 = answer.digits(48).ok_or_else(|| bad("the settlement's answer has no totals (field 48)".into()))?;
    let codes = (f48.len() == 62).then(|| (f48.as_bytes()[30], f48.as_bytes()[61]));
    let balanced = |c: u8| match c {
        b'1' => Ok(true),
        b'2' => Ok(false),
        other => Err(bad(format!("field 48's reconciliation code {:?} is neither 1 nor 2", char::from(other)))),
    };
    let (d, f) =
        codes.ok_or_else(|| bad(format!("field 48 of the settlement's answer has {} digits, not 62", f48.len())))?;
    Ok(SettlementAnswer {
        sent,
        answer: f48.to_owned(),
        domestic_balanced: balanced(d)?,
        foreign_balanced: balanced(f)?,
    })
}

/// Field 39 of a reversal: why it is sent.
pub(super) fn reversal_code(reason: ReversalReason) -> &'static str {
    match reason {
        ReversalReason::NoAnswer => "98",
        ReversalReason::BadAnswer => "A0",
        ReversalReason::NoReceipt | ReversalReason::Cancelled => "06",
    }
}

/// The reversal (0400) of a journalled request: the original's processing code, trace, amount
/// and batch, the fields that named its own original, and its authorisation code when it was
/// approved. No card data: the journal keeps none. A refund is never reversed.
pub(super) fn reversal(r: &ReversalRequest<'_>, trace: Trace) -> Result<Message, AuthorisationError> {
    if r.operation.is_advice() {
        return Err(AuthorisationError::NotSent("a refund is an advice, never reversed".into()));
    }
    let p = profile(r.operation);
    let mut m = Message::new(mti("0400")?);
    m.set_digits(3, p.processing).set_digits(4, amount(r.amount)?).set_digits(11, format!("{:06}", trace.trace));
    m.set_digits(22, ENTRY_SWIPE_NO_PIN).set_digits(25, p.condition);
    original_fields(&mut m, r.operation);
    if let Some(a) = &r.approval {
        m.set_text(38, a.auth_code.as_str());
    }
    m.set_text(39, reversal_code(r.reason));
    m.set_text(41, r.terminal_id.as_str()).set_text(42, r.merchant_id.as_str());
    m.set_text(49, format!("{:03}", r.amount.currency().numeric()));
    m.set_digits(60, field60(p.type_code, trace.batch, "000"));
    m.set_text(63, operator(r.operator.unwrap_or("01")));
    Ok(m)
}

/// The sign-in (0800): `double_keys` asks for double-length working keys (60.3 = 003).
pub(super) fn sign_in(r: &SignInRequest<'_>, double_keys: bool) -> Result<Message, AuthorisationError> {
    let mut m = Message::new(mti("0800")?);
    m.set_digits(11, format!("{:06}", r.trace.trace));
    m.set_text(41, r.terminal_id.as_str()).set_text(42, r.merchant_id.as_str());
    m.set_digits(60, field60("00", r.trace.batch, if double_keys { "003" } else { "001" }));
    m.set_text(63, operator(r.operator.as_str()));
    Ok(m)
}

/// An answer must be to this request: its type, and the trace, terminal and (when present)
/// amount repeated.
pub(super) fn check_answer_to(answer: &Message, request: &Message) -> Result<(), AuthorisationError> {
    let expected = answer_mti(request.mti)?;
    if answer.mti != expected {
        return Err(bad(format!("a {} answered the {}, expecting {expected}", answer.mti, request.mti)));
    }
    for field in [11u8, 41, 4] {
        let (asked, got) = (value(request, field), value(answer, field));
        if field == 4 && got.is_none() {
            continue;
        }
        if asked != got {
            return Err(bad(format!(
                "field {field} of the answer is {:?}, the request's is {:?}",
                got.unwrap_or_default(),
                asked.unwrap_or_default()
            )));
        }
    }
    Ok(())
}

fn value(m: &Message, field: u8) -> Option<&str> {
    m.digits(field).or_else(|| m.text(field))
}

fn bad(why: String) -> AuthorisationError {
    AuthorisationError::BadAnswer(why)
}

/// Field 39, which every answer must carry.
pub(super) fn response_code(answer: &Message) -> Result<&str, AuthorisationError> {
    answer.text(39).ok_or_else(|| bad("the answer has no response code (field 39)".into()))
}

/// A decline with the cashier's texts for `code`.
pub(super) fn declined(code: &str) -> AuthorisationError {
    let info = codes::ResponseTable::unionpay().describe(code);
    AuthorisationError::Declined {
        code: code.to_owned(),
        message: info.en.into_owned(),
        message_zh: info.zh.into_owned(),
    }
}

/// True when `code` means the terminal must sign in again (batch out of step, MAC failed).
pub(super) fn needs_sign_in(code: &str) -> bool {
    codes::ResponseTable::unionpay().describe(code).reason == Some(codes::DeclineReason::SignInAgain)
}

/// The approval of a sale's answer: 39 = 00 with an authorisation code and an RRN.
pub(super) fn approval(answer: &Message) -> Result<Approval, AuthorisationError> {
    let code = response_code(answer)?;
    if code != "00" {
        return Err(declined(code));
    }
    let auth = answer.text(38).ok_or_else(|| bad("an approval without an authorisation code (field 38)".into()))?;
    let rrn = answer.text(37).ok_or_else(|| bad("an approval without a reference number (field 37)".into()))?;
    Ok(Approval {
        auth_code: auth.trim().parse().map_err(|e| bad(format!("field 38 {auth:?}: {e}")))?,
        rrn: rrn.parse().map_err(|e| bad(format!("field 37 {rrn:?}: {e}")))?,
    })
}

#[cfg(test)]
mod tests;
