//! SGIP 1.2 (China Unicom's SP gateway protocol): the 20-octet header whose sequence is three
//! words (node id, MMDDHHMMSS, counter), Bind, Submit with the fee fields and TP_udhi for long
//! messages, the Report the SMG brings to the SP's own listener, and the result table.

use bytes::{Buf, BufMut, BytesMut};

use super::protocol::{
    fixed_text, need, put_fixed, u32_at, Frame, FrameError, Login, Part, Protocol, StatusKind, MAX_FRAME,
};
use crate::infra::delivery::smpp::{DeliveryReport, ReportState};

/// Length, command id and the three sequence words: 4 octets each, big-endian.
pub const HEADER: usize = 20;
pub const BIND: u32 = 0x1;
pub const UNBIND: u32 = 0x2;
pub const SUBMIT: u32 = 0x3;
pub const DELIVER: u32 = 0x4;
pub const REPORT: u32 = 0x5;
/// Login Type of the SP's connection to the SMG, to submit.
pub const SP_TO_SMG: u8 = 1;
/// Login Type of the SMG's connection to the SP, to bring reports and messages from handsets.
pub const SMG_TO_SP: u8 = 2;

/// SGIP frames both ways: [`Frame::sequence`] is the counter, [`Frame::stamp`] the node id
/// and time before it.
#[derive(Clone, Copy, Debug, Default)]
pub struct SgipCodec;

impl tokio_util::codec::Decoder for SgipCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(length) = src.get(..4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])) else {
            return Ok(None);
        };
        let len = usize::try_from(length).unwrap_or(usize::MAX);
        if !(HEADER..=MAX_FRAME).contains(&len) {
            return Err(FrameError::Length(length, HEADER));
        }
        if src.len() < len {
            src.reserve(len - src.len());
            return Ok(None);
        }
        let mut frame = src.split_to(len);
        frame.advance(4);
        let command = frame.get_u32();
        let stamp = (frame.get_u32(), frame.get_u32());
        let sequence = frame.get_u32();
        Ok(Some(Frame { command, sequence, stamp, body: frame.to_vec() }))
    }
}

impl tokio_util::codec::Encoder<Frame> for SgipCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        let len = HEADER + frame.body.len();
        let length =
            u32::try_from(len).ok().filter(|_| len <= MAX_FRAME).ok_or(FrameError::Length(u32::MAX, HEADER))?;
        dst.reserve(len);
        dst.put_u32(length);
        dst.put_u32(frame.command);
        dst.put_u32(frame.stamp.0);
        dst.put_u32(frame.stamp.1);
        dst.put_u32(frame.sequence);
        dst.put_slice(&frame.body);
        Ok(())
    }
}

/// SGIP 1.2 with the submit fields from the settings (`[delivery.sgip]`).
#[derive(Clone, Debug)]
pub struct Sgip {
    /// The SP's node number (3AAAAQQQQQ: area code and corporation code), the first word of
    /// every sequence.
    pub node_id: u32,
    /// ChargeNumber (21): "000000000000000000000" charges the SP, empty the recipient.
    pub charge_number: String,
    /// CorpId (5), the SP's corporation code.
    pub corp_id: String,
    /// ServiceType (10), the service code filed with the carrier.
    pub service_type: String,
    /// FeeType: 0 no information fee, 1 free, 2 per message, 3 monthly, 4 charged by the SP.
    pub fee_type: u8,
    /// FeeValue (6) in fen.
    pub fee_value: String,
    /// GivenValue (6) in fen.
    pub given_value: String,
    /// AgentFlag: 0 due, 1 collected.
    pub agent_flag: u8,
    /// MorelatetoMTFlag: 2, an MT no handset asked for.
    pub morelateto_mt_flag: u8,
    /// Priority 0..=9.
    pub priority: u8,
    /// ReportFlag: 1 a report whatever the outcome, 2 none.
    pub report_flag: u8,
}

impl Protocol for Sgip {
    const NAME: &'static str = "SGIP 1.2";
    type Codec = SgipCodec;
    const LOGIN: u32 = BIND;
    const SUBMIT: u32 = SUBMIT;
    const DELIVER: u32 = DELIVER;
    /// SGIP has no Active_Test; no frame carries command id 0.
    const ACTIVE_TEST: u32 = 0;
    const EXIT: u32 = UNBIND;

    fn codec(&self) -> SgipCodec {
        SgipCodec
    }

    fn stamp(&self, now: u32) -> (u32, u32) {
        (self.node_id, now)
    }

    /// Login Type 1, Login Name (16), Login Password (16), Reserve (8).
    fn login(&self, login: &Login<'_>) -> Result<Vec<u8>, String> {
        bind_body(SP_TO_SMG, login.account, login.secret)
    }

    /// Result (1), Reserve (8).
    fn login_status(&self, body: &[u8]) -> Result<u32, FrameError> {
        need("Bind_Resp", body, 1)?;
        Ok(u32::from(body[0]))
    }

    /// Table 4-17 with one UserNumber ("86" + the national number) and MessageCoding 8.
    fn submit(&self, part: &Part<'_>) -> Result<Vec<u8>, String> {
        let content = part.content();
        let length = u32::try_from(content.len()).map_err(|_| "MessageContent too long".to_string())?;
        let mut out = Vec::with_capacity(160 + content.len());
        put_fixed(&mut out, "sp_number (SPNumber)", part.source, 21)?;
        put_fixed(&mut out, "charge_number (ChargeNumber)", &self.charge_number, 21)?;
        out.push(1);
        put_fixed(&mut out, "UserNumber", &format!("86{}", part.dest), 21)?;
        put_fixed(&mut out, "corp_id (CorpId)", &self.corp_id, 5)?;
        put_fixed(&mut out, "service_type (ServiceType)", &self.service_type, 10)?;
        out.push(self.fee_type);
        put_fixed(&mut out, "fee_value (FeeValue)", &self.fee_value, 6)?;
        put_fixed(&mut out, "given_value (GivenValue)", &self.given_value, 6)?;
        out.extend([self.agent_flag, self.morelateto_mt_flag, self.priority]);
        put_fixed(&mut out, "ExpireTime", "", 16)?;
        put_fixed(&mut out, "ScheduleTime", "", 16)?;
        // ReportFlag, TP_pid 0, TP_udhi, MessageCoding 8 (UCS-2), MessageType 0 (SMS).
        out.extend([self.report_flag, 0, u8::from(part.udh.is_some()), 8, 0]);
        out.extend(length.to_be_bytes());
        out.extend(content);
        out.extend([0u8; 8]);
        Ok(out)
    }

    /// Result (1), Reserve (8); the message id is the Submit's sequence, which the answer
    /// echoes and the Report names.
    fn submit_answer(&self, answer: &Frame) -> Result<(String, u32), FrameError> {
        need("Submit_Resp", &answer.body, 1)?;
        Ok((message_id(answer.stamp, answer.sequence), u32::from(answer.body[0])))
    }

    /// A message from a handset on the SP's own link (SMGs send them to the listener): not a
    /// report; answered Result 0.
    fn deliver(&self, _body: &[u8]) -> Result<(Option<DeliveryReport>, Vec<u8>), FrameError> {
        Ok((None, result_body(0)))
    }

    fn active_test_answer(&self) -> Vec<u8> {
        Vec::new()
    }

    fn status(&self, code: u32) -> (StatusKind, String) {
        status(code)
    }
}

/// A Bind body: Login Type, Login Name (16), Login Password (16), Reserve (8).
pub fn bind_body(login_type: u8, name: &str, password: &str) -> Result<Vec<u8>, String> {
    let mut out = vec![login_type];
    put_fixed(&mut out, "login (Login Name)", name, 16)?;
    put_fixed(&mut out, "password (Login Password)", password, 16)?;
    out.extend([0u8; 8]);
    Ok(out)
}

/// A Bind as the listener reads it: Login Type, name, password.
pub fn read_bind(body: &[u8]) -> Result<(u8, String, String), FrameError> {
    need("Bind", body, 33)?;
    Ok((body[0], fixed_text(&body[1..17]), fixed_text(&body[17..33])))
}

/// The body of every *_Resp but Unbind's: Result (1), Reserve (8).
pub fn result_body(result: u8) -> Vec<u8> {
    let mut out = vec![result];
    out.extend([0u8; 8]);
    out
}

/// A submit's message id: its three sequence words, "node-MMDDHHMMSS-counter" in decimal.
pub fn message_id(stamp: (u32, u32), counter: u32) -> String {
    format!("{}-{:010}-{}", stamp.0, stamp.1, counter)
}

/// A Report (table 4-21): SubmitSequenceNumber (12), ReportType (1), UserNumber (21), State
/// (1), ErrorCode (1), Reserve (8). `None` for ReportType 1 (about a Deliver the SMG
/// forwarded, no submit of ours).
pub fn read_report(body: &[u8]) -> Result<Option<DeliveryReport>, FrameError> {
    need("Report", body, 36)?;
    if body[12] != 0 {
        return Ok(None);
    }
    let id = message_id((u32_at(body, 0), u32_at(body, 4)), u32_at(body, 8));
    let user = fixed_text(&body[13..34]);
    let recipient = user.strip_prefix("86").filter(|n| n.len() == 11).unwrap_or(&user).to_string();
    // §5.4: 0 DELIVERED; 1 ENROUTE or ACCEPTED; 2 EXPIRED, DELETED, UNDELIVERABLE, UNKNOWN, REJECTED.
    let state = match body[34] {
        0 => ReportState::Delivered,
        1 => ReportState::Enroute,
        2 => ReportState::Undeliverable,
        _ => ReportState::Unknown,
    };
    let error = (body[34] == 2).then(|| body[35].to_string());
    Ok(Some(DeliveryReport { message_id: id, state, error, done_date: None, recipient }))
}

/// The SGIP 1.2 error codes (§5.2) and how the client treats each: 11 "node busy" and 33 "SMSC
/// queue full" are flow control, retried after a pause; the handset's troubles (25 to 28) and
/// the network's (21, 22, 32) pass later.
const STATUS: &[(u32, StatusKind, &str)] = {
    use StatusKind::*;
    &[
        (0, Ok, "无错误 (ok)"),
        (1, Permanent, "非法登录 (login refused: check login and password)"),
        (2, Temporary, "重复登录 (already bound on this connection)"),
        (3, Temporary, "连接过多 (too many connections)"),
        (4, Permanent, "登录类型错 (Login Type)"),
        (5, Permanent, "参数格式错 (a field's format or range)"),
        (6, Permanent, "非法手机号码 (UserNumber)"),
        (7, Permanent, "消息ID错 (message id)"),
        (8, Permanent, "信息长度错 (MessageLength)"),
        (9, Temporary, "非法序列号 (sequence number repeated or malformed)"),
        (10, Permanent, "非法操作GNS (GNS operation)"),
        (11, Throttled, "节点忙 (node busy)"),
        (21, Temporary, "目的地址不可达 (destination unreachable)"),
        (22, Temporary, "路由错 (routing error)"),
        (23, Permanent, "路由不存在 (no route for the number)"),
        (24, Permanent, "计费号码无效 (ChargeNumber refused)"),
        (25, Temporary, "用户不能通信 (handset off or out of coverage)"),
        (26, Temporary, "手机内存不足 (handset memory full)"),
        (27, Permanent, "手机不支持短消息 (handset takes no SMS)"),
        (28, Temporary, "手机接收短消息出现错误 (handset error)"),
        (29, Permanent, "不知道的用户 (unknown user)"),
        (30, Permanent, "不提供此功能 (not offered)"),
        (31, Permanent, "非法设备 (illegal device)"),
        (32, Temporary, "系统失败 (system failure)"),
        (33, Throttled, "短信中心队列满 (SMSC queue full)"),
    ]
};

/// How a result is treated, with its number and name.
pub fn status(code: u32) -> (StatusKind, String) {
    match STATUS.iter().find(|(c, _, _)| *c == code) {
        Some((_, kind, name)) => (*kind, format!("SGIP result {code} {name}")),
        None => (StatusKind::Temporary, format!("SGIP result {code} (not in the SGIP 1.2 table)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::codec::{Decoder, Encoder};

    fn bytes(frame: Frame) -> Vec<u8> {
        let mut out = BytesMut::new();
        SgipCodec.encode(frame, &mut out).unwrap();
        out.to_vec()
    }

    fn sgip() -> Sgip {
        Sgip {
            node_id: 3_010_012_345,
            charge_number: "000000000000000000000".into(),
            corp_id: "12345".into(),
            service_type: "ERECEIPT".into(),
            fee_type: 1,
            fee_value: "0".into(),
            given_value: "0".into(),
            agent_flag: 0,
            morelateto_mt_flag: 2,
            priority: 0,
            report_flag: 1,
        }
    }

    /// hujm2023/go-sms-protocol `sgip/sgip12/pdu_bind_test.go`: Login Type 1, "testusername",
    /// "testpwd", sequence 0 0 0.
    #[test]
    fn bind_matches_the_go_sms_protocol_vector() {
        let body = bind_body(SP_TO_SMG, "testusername", "testpwd").unwrap();
        let frame = bytes(Frame { command: BIND, sequence: 0, stamp: (0, 0), body });
        let mut want = vec![0, 0, 0, 0x3d, 0, 0, 0, 1];
        want.extend([0u8; 12]);
        want.push(1);
        want.extend(b"testusername\0\0\0\0");
        want.extend(b"testpwd\0\0\0\0\0\0\0\0\0");
        want.extend([0u8; 8]);
        assert_eq!(frame, want);
        assert_eq!(read_bind(&frame[20..]).unwrap(), (1, "testusername".into(), "testpwd".into()));
        assert!(bind_body(2, "a-login-of-17-chr", "x").unwrap_err().contains("at most 16"));
    }

    #[test]
    fn the_sequence_is_three_words_and_short_lengths_are_named() {
        let frame = Frame {
            command: SUBMIT | 0x8000_0000,
            sequence: 7,
            stamp: (3_010_012_345, 1_203_164_501),
            body: vec![0; 9],
        };
        let raw = bytes(frame.clone());
        assert_eq!(
            &raw[..20],
            [0, 0, 0, 29, 0x80, 0, 0, 3, 0xB3, 0x69, 0x24, 0xB9, 0x47, 0xB6, 0xD5, 0x55, 0, 0, 0, 7]
        );
        let mut buf = BytesMut::from(&raw[..]);
        assert_eq!(SgipCodec.decode(&mut buf).unwrap(), Some(frame.clone()));
        assert_eq!(sgip().submit_answer(&frame).unwrap(), ("3010012345-1203164501-7".into(), 0));
        let mut bad = BytesMut::from(&[0u8, 0, 0, 9, 0x80, 0, 0, 3][..]);
        let err = SgipCodec.decode(&mut bad).unwrap_err().to_string();
        assert!(err.contains("frame length 9 outside 20..="), "{err}");
    }

    /// Table 4-17 field by field, for a second part of three with its user data header.
    #[test]
    fn submit_lays_out_table_4_17() {
        let udh = [5, 0, 3, 0x2A, 3, 2];
        let part = Part {
            dest: "18612345678",
            source: "106550001",
            udh: Some(udh),
            payload: &[0x65, 0x36],
            total: 3,
            number: 2,
        };
        let body = sgip().submit(&part).unwrap();
        let mut want = b"106550001".to_vec();
        want.extend([0u8; 12]);
        want.extend(b"000000000000000000000");
        want.push(1);
        want.extend(b"8618612345678\0\0\0\0\0\0\0\0");
        want.extend(b"12345ERECEIPT\0\0");
        want.push(1);
        want.extend(b"0\0\0\0\0\0"); // FeeValue
        want.extend(b"0\0\0\0\0\0"); // GivenValue
        want.extend([0, 2, 0]);
        want.extend([0u8; 32]);
        want.extend([1, 0, 1, 8, 0, 0, 0, 0, 8]);
        want.extend([5, 0, 3, 0x2A, 3, 2, 0x65, 0x36]);
        want.extend([0u8; 8]);
        assert_eq!(body, want);
        let short = Part { udh: None, total: 1, number: 1, ..part };
        assert_eq!(sgip().submit(&short).unwrap()[129], 0, "TP_udhi 0 for a text in one part");
    }

    /// The Report vector of go-sms-protocol `pdu_report_test.go`: SubmitSequence 0 0 2, user
    /// 17611000000, State 2, ErrorCode 9.
    #[test]
    fn a_report_becomes_a_delivery_report() {
        let raw: [u8; 64] = [
            0, 0, 0, 64, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 49, 55,
            54, 49, 49, 48, 48, 48, 48, 48, 48, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 9, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let frame = SgipCodec.decode(&mut BytesMut::from(&raw[..])).unwrap().unwrap();
        assert_eq!(frame.command, REPORT);
        let report = read_report(&frame.body).unwrap().unwrap();
        assert_eq!(report.message_id, "0-0000000000-2");
        assert_eq!((report.state, report.error.as_deref()), (ReportState::Undeliverable, Some("9")));
        assert_eq!(report.recipient, "17611000000");

        let mut ok = frame.body.clone();
        ok[13..26].copy_from_slice(b"8618612345678");
        (ok[34], ok[35]) = (0, 0);
        let report = read_report(&ok).unwrap().unwrap();
        assert_eq!(
            (report.state, report.error, report.recipient.as_str()),
            (ReportState::Delivered, None, "18612345678")
        );
        ok[12] = 1;
        assert!(read_report(&ok).unwrap().is_none(), "a report on a forwarded Deliver is none of ours");
        assert!(read_report(&ok[..30]).unwrap_err().to_string().contains("Report body of 30 octets"));
    }

    #[test]
    fn results_are_sorted_into_retry_and_give_up() {
        assert_eq!(status(0).0, StatusKind::Ok);
        assert_eq!(status(11).0, StatusKind::Throttled);
        let (kind, name) = status(1);
        assert_eq!(kind, StatusKind::Permanent);
        assert!(name.contains("SGIP result 1") && name.contains("非法登录"), "{name}");
        assert_eq!(status(6).0, StatusKind::Permanent);
        assert_eq!(status(32).0, StatusKind::Temporary);
        assert_eq!(status(99).0, StatusKind::Temporary, "an unknown code may pass later");
    }
}
