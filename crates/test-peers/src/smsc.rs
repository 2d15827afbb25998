//! A small SMSC for tests, on the same SMPP codec: checks the account at bind, answers
//! enquire_link, records and answers every submit_sm as scripted, sends receipts, drops links;
//! over plain TCP or TLS.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rusmpp::decode::Decode;
use rusmpp::extra::encoding::gsm7bit::Gsm7BitUnpacked;
use rusmpp::pdus::{BindTransceiverResp, BindTransmitterResp, DeliverSm, SubmitSm, SubmitSmResp};
use rusmpp::tlvs::TlvValue;
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::types::{COctetString, OctetString};
use rusmpp::udhs::{Udh, UdhValue};
use rusmpp::values::EsmClass;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::Framed;

/// One submit_sm as the SMSC decoded it.
#[derive(Clone, Debug)]
pub struct Submitted {
    pub data_coding: u8,
    pub esm_class: u8,
    /// (reference, total, part) of an 8-bit concatenation header.
    pub udh: Option<(u8, u8, u8)>,
    /// short_message without the header.
    pub payload: Vec<u8>,
    pub registered_delivery: u8,
    pub dest_ton: u8,
    pub destination: String,
    pub source: String,
    /// The `user_message_reference` TLV, when present.
    pub user_reference: Option<u16>,
    /// The answer it got: a message_id when accepted.
    pub status: CommandStatus,
    pub message_id: String,
}

/// What the SMSC has seen, and how it will answer.
#[derive(Default)]
pub struct Log {
    pub binds: Vec<CommandId>,
    pub refused_binds: usize,
    pub submits: Vec<Submitted>,
    pub enquire_links: usize,
    pub unbinds: usize,
    /// deliver_sm_resp statuses for the receipts sent.
    pub receipt_answers: Vec<CommandStatus>,
    /// TLS handshakes that failed (the client refused the certificate, or spoke no TLS).
    pub failed_handshakes: usize,
    /// Statuses for the next submits, in order; accepted once empty.
    pub answers: VecDeque<CommandStatus>,
    /// Send a DELIVRD receipt for each accepted submit that asked for one, on a transceiver bind.
    pub receipts: bool,
    /// Close the connection on this many next submits, without answering them.
    pub drop_at_submit: usize,
    pub dropped_submits: usize,
}

struct Shared {
    system_id: String,
    password: String,
    log: Mutex<Log>,
    changed: Notify,
    drop_all: watch::Sender<u64>,
}

pub struct Smsc {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Smsc {
    /// Listens on 127.0.0.1 (bound before this returns) for the account `system_id`/`password`.
    pub async fn start(system_id: &str, password: &str) -> Smsc {
        Self::start_with(system_id, password, None).await
    }

    /// As [`Smsc::start`], speaking TLS with `tls` when given (SMPP over TLS: the handshake
    /// first, then the same PDUs).
    pub async fn start_with(system_id: &str, password: &str, tls: Option<Arc<rustls::ServerConfig>>) -> Smsc {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            system_id: system_id.into(),
            password: password.into(),
            log: Mutex::new(Log::default()),
            changed: Notify::new(),
            drop_all: watch::channel(0).0,
        });
        let serving = shared.clone();
        let acceptor = tls.map(TlsAcceptor::from);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let shared = serving.clone();
                match acceptor.clone() {
                    None => drop(tokio::spawn(serve(shared, tcp))),
                    Some(acceptor) => drop(tokio::spawn(async move {
                        match acceptor.accept(tcp).await {
                            Ok(tls) => serve(shared, tls).await,
                            Err(_) => record(&shared, |log| log.failed_handshakes += 1),
                        }
                    })),
                }
            }
        });
        Smsc { addr, shared }
    }

    /// Reads or changes the log and script.
    pub fn with<R>(&self, f: impl FnOnce(&mut Log) -> R) -> R {
        f(&mut self.shared.log.lock().unwrap())
    }

    /// Waits (10 s at most) until the log satisfies `cond`.
    pub async fn wait_for(&self, what: &str, cond: impl Fn(&Log) -> bool) {
        let wait = async {
            loop {
                let changed = self.shared.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if self.with(|log| cond(log)) {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait).await.unwrap_or_else(|_| panic!("SMSC never saw: {what}"));
    }

    /// Closes every open connection without unbinding.
    pub fn drop_connections(&self) {
        self.shared.drop_all.send_modify(|n| *n += 1);
    }
}

fn record(shared: &Shared, f: impl FnOnce(&mut Log)) {
    f(&mut shared.log.lock().unwrap());
    shared.changed.notify_waiters();
}

async fn serve(shared: Arc<Shared>, stream: impl AsyncRead + AsyncWrite + Unpin) {
    let mut framed = Framed::new(stream, CommandCodec::new());
    let mut dropped = shared.drop_all.subscribe();
    let mut bound: Option<CommandId> = None;
    let mut sequence = 0x1000;
    loop {
        let command = tokio::select! {
            _ = dropped.changed() => return,
            incoming = framed.next() => match incoming {
                Some(Ok(command)) => command,
                _ => return,
            },
        };
        let seq = command.sequence_number();
        let reply = |status, pdu: Pdu| Command::new(status, seq, pdu);
        let answer = match command.pdu() {
            Some(Pdu::BindTransmitter(b)) => {
                let ok = (b.system_id.as_str(), b.password.as_str()) == (&shared.system_id[..], &shared.password[..]);
                let resp = BindTransmitterResp::builder().system_id(COctetString::from_str_ok("SMSC")).build();
                bind(&shared, &mut bound, CommandId::BindTransmitter, ok);
                reply(if ok { CommandStatus::EsmeRok } else { CommandStatus::EsmeRinvpaswd }, resp.into())
            }
            Some(Pdu::BindTransceiver(b)) => {
                let ok = (b.system_id.as_str(), b.password.as_str()) == (&shared.system_id[..], &shared.password[..]);
                let resp = BindTransceiverResp::builder().system_id(COctetString::from_str_ok("SMSC")).build();
                bind(&shared, &mut bound, CommandId::BindTransceiver, ok);
                reply(if ok { CommandStatus::EsmeRok } else { CommandStatus::EsmeRinvpaswd }, resp.into())
            }
            Some(Pdu::EnquireLink) => {
                record(&shared, |log| log.enquire_links += 1);
                reply(CommandStatus::EsmeRok, Pdu::EnquireLinkResp)
            }
            Some(Pdu::Unbind) => {
                record(&shared, |log| log.unbinds += 1);
                let _ = framed.send(reply(CommandStatus::EsmeRok, Pdu::UnbindResp)).await;
                return;
            }
            Some(Pdu::DeliverSmResp(_)) => {
                record(&shared, |log| log.receipt_answers.push(command.status()));
                continue;
            }
            Some(Pdu::SubmitSm(_)) if bound.is_some() && shared.log.lock().unwrap().drop_at_submit > 0 => {
                record(&shared, |log| {
                    log.drop_at_submit -= 1;
                    log.dropped_submits += 1;
                });
                return;
            }
            Some(Pdu::SubmitSm(sm)) if bound.is_some() => {
                let submitted = submitted(&shared, sm);
                let resp = SubmitSmResp::builder().message_id(COctetString::from_str_ok(&submitted.message_id)).build();
                let answer = reply(submitted.status, resp.into());
                let receipt = submitted.status == CommandStatus::EsmeRok
                    && submitted.registered_delivery & 0x03 != 0
                    && bound == Some(CommandId::BindTransceiver)
                    && shared.log.lock().unwrap().receipts;
                record(&shared, |log| log.submits.push(submitted.clone()));
                if framed.send(answer).await.is_err() {
                    return;
                }
                if receipt {
                    sequence += 1;
                    let _ = framed.send(Command::new(CommandStatus::EsmeRok, sequence, receipt_for(&submitted))).await;
                }
                continue;
            }
            Some(Pdu::SubmitSm(_)) => reply(CommandStatus::EsmeRinvbndsts, SubmitSmResp::default().into()),
            _ => reply(CommandStatus::EsmeRinvcmdid, Pdu::GenericNack),
        };
        if framed.send(answer).await.is_err() {
            return;
        }
    }
}

fn bind(shared: &Shared, bound: &mut Option<CommandId>, id: CommandId, ok: bool) {
    if ok {
        *bound = Some(id);
    }
    record(shared, |log| if ok { log.binds.push(id) } else { log.refused_binds += 1 });
}

/// Decodes a submit_sm and decides its answer.
fn submitted(shared: &Shared, sm: &SubmitSm) -> Submitted {
    let esm_class = u8::from(sm.esm_class);
    let message = sm.short_message().as_ref().to_vec();
    let (udh, payload) = if esm_class & 0x40 != 0 {
        let (header, size) = Udh::decode(&mut bytes::BytesMut::from(&message[..])).unwrap();
        match header.value() {
            Some(UdhValue::ConcatenatedShortMessage8Bit(c)) => {
                (Some((c.reference(), c.total_parts(), c.part_number())), message[size..].to_vec())
            }
            other => panic!("unexpected UDH {other:?}"),
        }
    } else {
        (None, message)
    };
    let mut log = shared.log.lock().unwrap();
    let status = log.answers.pop_front().unwrap_or(CommandStatus::EsmeRok);
    let message_id =
        if status == CommandStatus::EsmeRok { format!("{:08X}", 0xA000 + log.submits.len()) } else { String::new() };
    Submitted {
        data_coding: u8::from(sm.data_coding),
        esm_class,
        udh,
        payload,
        registered_delivery: u8::from(sm.registered_delivery),
        dest_ton: u8::from(sm.dest_addr_ton),
        destination: sm.destination_addr.to_string(),
        source: sm.source_addr.to_string(),
        user_reference: sm.tlvs().iter().find_map(|t| match t.value() {
            Some(TlvValue::UserMessageReference(r)) => Some(r.value),
            _ => None,
        }),
        status,
        message_id,
    }
}

fn receipt_for(s: &Submitted) -> Pdu {
    let text = format!(
        "id:{} sub:001 dlvrd:001 submit date:2611251403 done date:2611251404 stat:DELIVRD err:000 text:",
        s.message_id
    );
    DeliverSm::builder()
        .source_addr(COctetString::from_str_ok(&s.destination))
        .destination_addr(COctetString::from_str_ok(&s.source))
        .esm_class(EsmClass::from(0x04))
        .short_message(OctetString::from_vec(text.into_bytes()).unwrap())
        .build()
        .into()
}

trait FromStrOk {
    fn from_str_ok(s: &str) -> Self;
}

impl<const MAX: usize> FromStrOk for COctetString<1, MAX> {
    fn from_str_ok(s: &str) -> Self {
        COctetString::from_string(s.to_string()).unwrap()
    }
}

/// The texts of accepted submits, parts joined in order per reference, decoded by data_coding.
pub fn reassemble(submits: &[Submitted]) -> Vec<String> {
    let accepted: Vec<&Submitted> = submits.iter().filter(|s| s.status == CommandStatus::EsmeRok).collect();
    let mut texts = Vec::new();
    let mut references: Vec<Option<u8>> = Vec::new();
    for s in &accepted {
        let r = s.udh.map(|(r, ..)| r);
        if r.is_none() || !references.contains(&r) {
            references.push(r);
        }
    }
    for r in references {
        let mut parts: Vec<&&Submitted> = accepted.iter().filter(|s| s.udh.map(|(r, ..)| r) == r).collect();
        if r.is_some() {
            parts.sort_by_key(|s| s.udh.map(|(_, _, part)| part));
            let total = parts[0].udh.map(|(_, total, _)| total).unwrap_or(0);
            assert_eq!(parts.len(), usize::from(total), "every part of reference {r:?} arrived once");
        }
        texts.push(parts.iter().map(|s| decode(s.data_coding, &s.payload)).collect());
    }
    texts
}

fn decode(data_coding: u8, payload: &[u8]) -> String {
    match data_coding {
        0x08 => {
            let units: Vec<u16> = payload.chunks(2).map(|p| u16::from_be_bytes([p[0], p[1]])).collect();
            String::from_utf16(&units).unwrap()
        }
        0x00 => {
            // The inverse of the codec's GSM 03.38 table, built from the characters it encodes.
            let gsm = Gsm7BitUnpacked::new();
            let mut table = std::collections::HashMap::new();
            for c in (0..0x2200u32).rev().filter_map(char::from_u32) {
                if let Ok(code) = gsm.encode_to_vec(c.encode_utf8(&mut [0; 4])) {
                    table.insert(code, c);
                }
            }
            let mut out = String::new();
            let mut bytes = payload.iter();
            while let Some(&b) = bytes.next() {
                let code = if b == 0x1B { vec![b, *bytes.next().unwrap()] } else { vec![b] };
                out.push(table[&code]);
            }
            out
        }
        other => panic!("data_coding {other:#x}"),
    }
}
