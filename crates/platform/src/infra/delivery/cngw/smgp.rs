//! SMGP 3.0 (China Telecom's SP gateway protocol): Login, Submit with the fee fields and the
//! long-message TLVs, Deliver carrying a status report, and the status table.

use super::protocol::{
    authenticator, fixed_text, need, put_fixed, u32_at, Frame, FrameCodec, FrameError, Login, Part, Protocol,
    StatusKind,
};
use crate::infra::delivery::smpp::{parse_receipt_text, DeliveryReport, ReportState};

/// SMGP 3.0 with the submit fields from the settings (`[delivery.smgp]`).
#[derive(Clone, Debug)]
pub struct Smgp {
    /// ServiceID (10): the service code filed with the carrier.
    pub service_id: String,
    /// FeeType (2): "00" free, "01" per message, "02" monthly …
    pub fee_type: String,
    /// FeeCode (6), in fen.
    pub fee_code: String,
    /// FixedFee (6), the monthly fee or cap, in fen.
    pub fixed_fee: String,
    /// ChargeTermID (21); empty charges the SP.
    pub charge_term_id: String,
    /// NeedReport: ask for a status report of every part.
    pub need_report: bool,
    /// Priority 0..=3.
    pub priority: u8,
    /// MsgFormat: 8 (UCS-2) for every text this client sends; other values only in tests.
    pub msg_format: u8,
}

/// LoginMode: 0 send only, 2 send and receive (status reports come on the same connection).
const SEND_MODE: u8 = 0;
const TRANSMIT_MODE: u8 = 2;
/// MsgType 6: an MT message, SP to handset.
const MT: u8 = 6;
/// TLV tags (SMGP 3.0 §6.3).
const TAG_TP_UDHI: u16 = 0x0002;
const TAG_PK_TOTAL: u16 = 0x0009;
const TAG_PK_NUMBER: u16 = 0x000A;

impl Protocol for Smgp {
    const NAME: &'static str = "SMGP 3.0";
    type Codec = FrameCodec;
    const LOGIN: u32 = 0x0000_0001;
    const SUBMIT: u32 = 0x0000_0002;
    const DELIVER: u32 = 0x0000_0003;
    const ACTIVE_TEST: u32 = 0x0000_0004;
    const EXIT: u32 = 0x0000_0006;

    fn codec(&self) -> FrameCodec {
        FrameCodec
    }

    /// ClientID (8), AuthenticatorClient = MD5(ClientID + 7 NULs + secret + timestamp) (16),
    /// LoginMode (1), TimeStamp (4), ClientVersion 0x30 (1).
    fn login(&self, login: &Login<'_>) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(30);
        put_fixed(&mut out, "account (ClientID)", login.account, 8)?;
        out.extend(authenticator(login.account, 7, login.secret, login.timestamp));
        out.push(if login.receive { TRANSMIT_MODE } else { SEND_MODE });
        out.extend(login.timestamp.to_be_bytes());
        out.push(0x30);
        Ok(out)
    }

    /// Status (4), AuthenticatorServer (16), ServerVersion (1).
    fn login_status(&self, body: &[u8]) -> Result<u32, FrameError> {
        need("Login_Resp", body, 4)?;
        Ok(u32_at(body, 0))
    }

    fn submit(&self, part: &Part<'_>) -> Result<Vec<u8>, String> {
        let content = part.content();
        let length = u8::try_from(content.len()).map_err(|_| "MsgContent over 255 octets".to_string())?;
        let mut out = Vec::with_capacity(160 + content.len());
        out.extend([MT, u8::from(self.need_report), self.priority]);
        put_fixed(&mut out, "service_id (ServiceID)", &self.service_id, 10)?;
        put_fixed(&mut out, "fee_type (FeeType)", &self.fee_type, 2)?;
        put_fixed(&mut out, "fee_code (FeeCode)", &self.fee_code, 6)?;
        put_fixed(&mut out, "fixed_fee (FixedFee)", &self.fixed_fee, 6)?;
        out.push(self.msg_format);
        put_fixed(&mut out, "ValidTime", "", 17)?;
        put_fixed(&mut out, "AtTime", "", 17)?;
        put_fixed(&mut out, "source_number (SrcTermID)", part.source, 21)?;
        put_fixed(&mut out, "charge_term_id (ChargeTermID)", &self.charge_term_id, 21)?;
        out.push(1);
        put_fixed(&mut out, "DestTermID", part.dest, 21)?;
        out.push(length);
        out.extend(content);
        out.extend([0u8; 8]);
        if part.total > 1 {
            for (tag, value) in [(TAG_TP_UDHI, 1), (TAG_PK_TOTAL, part.total), (TAG_PK_NUMBER, part.number)] {
                out.extend(tag.to_be_bytes());
                out.extend(1u16.to_be_bytes());
                out.push(value);
            }
        }
        Ok(out)
    }

    /// MsgID (10), Status (4). The MsgID is printed as 20 hex digits (it is BCD: gateway code,
    /// MMDDHHMM, sequence), as the reports carry it.
    fn submit_answer(&self, answer: &Frame) -> Result<(String, u32), FrameError> {
        let body = &answer.body;
        need("Submit_Resp", body, 14)?;
        Ok((hex::encode(&body[..10]), u32_at(body, 10)))
    }

    /// MsgID (10), IsReport (1), MsgFormat (1), RecvTime (14), SrcTermID (21), DestTermID (21),
    /// MsgLength (1), MsgContent, Reserve (8), TLVs. Answered MsgID + Status 0.
    fn deliver(&self, body: &[u8]) -> Result<(Option<DeliveryReport>, Vec<u8>), FrameError> {
        need("Deliver", body, 69)?;
        let length = usize::from(body[68]);
        need("Deliver", body, 69 + length)?;
        let mut answer = body[..10].to_vec();
        answer.extend(0u32.to_be_bytes());
        if body[10] != 1 {
            return Ok((None, answer));
        }
        let recipient = fixed_text(&body[26..47]);
        Ok((report(&body[69..69 + length], recipient), answer))
    }

    fn active_test_answer(&self) -> Vec<u8> {
        Vec::new()
    }

    fn status(&self, code: u32) -> (StatusKind, String) {
        status(code)
    }
}

/// The report in a Deliver's MsgContent: "id:" + the MsgID as 10 raw octets (some gateways
/// write its 20 hex digits instead) + " sub:001 dlvrd:001 Submit date:… done date:… stat:DELIVRD
/// err:000 Text:…" (go_smgp `protocol/report.go`; the spec's layout is fixed-width, 122 octets).
fn report(content: &[u8], recipient: String) -> Option<DeliveryReport> {
    let rest = content.strip_prefix(b"id:")?;
    let texty = rest.len() >= 20 && rest[..20].iter().all(u8::is_ascii_hexdigit);
    let (id, after) = if texty {
        (String::from_utf8_lossy(&rest[..20]).to_ascii_lowercase(), &rest[20..])
    } else {
        (hex::encode(rest.get(..10)?), &rest[10..])
    };
    let fields = parse_receipt_text(&format!("id:{id}{}", String::from_utf8_lossy(after)))?;
    Some(DeliveryReport {
        message_id: id,
        state: fields.stat.unwrap_or(ReportState::Unknown),
        error: fields.err,
        done_date: fields.done_date,
        recipient,
    })
}

/// The SMGP 3.0 status codes (names as go_smgp `protocol/status.go` gives them from the spec)
/// and how the client treats each. 1 "system busy" is what SMGP gateways answer for flow
/// control, so it is retried after a pause; 74 and 75 (sending hours, daily volume) pass later.
const STATUS: &[(u32, StatusKind, &str)] = {
    use StatusKind::*;
    &[
        (0, Ok, "成功 (success)"),
        (1, Throttled, "系统忙 (system busy)"),
        (2, Temporary, "超过最大连接数 (too many connections)"),
        (10, Permanent, "消息结构错 (malformed message)"),
        (11, Permanent, "命令字错 (unknown command)"),
        (12, Temporary, "序列号重复 (duplicate sequence id)"),
        (20, Permanent, "IP地址错 (address not allowed)"),
        (21, Permanent, "认证错 (authentication failed: check account and secret)"),
        (22, Permanent, "版本太高 (version too high)"),
        (30, Permanent, "非法消息类型 (MsgType)"),
        (31, Permanent, "非法优先级 (Priority)"),
        (32, Permanent, "非法资费类型 (FeeType)"),
        (33, Permanent, "非法资费代码 (FeeCode)"),
        (34, Permanent, "非法短消息格式 (MsgFormat)"),
        (35, Permanent, "非法时间格式 (time format)"),
        (36, Permanent, "非法短消息长度 (MsgLength)"),
        (37, Permanent, "有效期已过 (validity over)"),
        (39, Permanent, "路由错误 (routing error)"),
        (40, Permanent, "非法包月费/封顶费 (FixedFee)"),
        (43, Permanent, "非法服务代码 (ServiceID)"),
        (44, Permanent, "非法有效期 (ValidTime)"),
        (45, Permanent, "非法定时发送时间 (AtTime)"),
        (46, Permanent, "非法发送用户号码 (SrcTermID)"),
        (47, Permanent, "非法接收用户号码 (DestTermID)"),
        (48, Permanent, "非法计费用户号码 (ChargeTermID)"),
        (49, Permanent, "非法SP服务代码 (SPCode)"),
        (58, Permanent, "没有匹配路由 (no route for the number)"),
        (72, Permanent, "非法时间戳 (TimeStamp: check the clock)"),
        (73, Permanent, "非法业务代码 (MServiceID)"),
        (74, Temporary, "SP禁止下发时段 (outside the SP's sending hours)"),
        (75, Temporary, "SP发送超过日流量 (daily volume exceeded)"),
        (76, Permanent, "SP帐号过有效期 (SP account expired)"),
    ]
};

/// How a status is treated, with its number and name.
pub fn status(code: u32) -> (StatusKind, String) {
    match STATUS.iter().find(|(c, _, _)| *c == code) {
        Some((_, kind, name)) => (*kind, format!("SMGP status {code} {name}")),
        None => (StatusKind::Temporary, format!("SMGP status {code} (not in the SMGP 3.0 table)")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::protocol::frame_bytes;
    use super::*;

    /// A Submit_Resp frame around `body`.
    fn resp(body: &[u8]) -> Frame {
        Frame { command: Smgp::SUBMIT | 0x8000_0000, sequence: 7, stamp: (0, 0), body: body.to_vec() }
    }

    fn smgp() -> Smgp {
        Smgp {
            service_id: "serviceId".into(),
            fee_type: "0".into(),
            fee_code: "0".into(),
            fixed_fee: "0".into(),
            charge_term_id: String::new(),
            need_report: true,
            priority: 2,
            msg_format: 8,
        }
    }

    /// hujm2023/go-sms-protocol `smgp/smgp30/pdu_login_test.go`: ClientID "testid", secret
    /// "testauth", 10-21 08:05:10, send mode, sequence 1.
    #[test]
    fn login_matches_the_go_sms_protocol_vector() {
        let login = Login { account: "testid", secret: "testauth", timestamp: 1_021_080_510, receive: false };
        let body = Smgp::login(&smgp(), &login).unwrap();
        let frame = frame_bytes(&Frame { command: Smgp::LOGIN, sequence: 1, stamp: (0, 0), body });
        let want = hex::decode(
            "0000002a0000000100000001746573746964000 0ca0eff036f70aa1116b8e5df1d55cf48003cdc73be30".replace(' ', ""),
        )
        .unwrap();
        assert_eq!(frame, want);
    }

    /// The same file's Submit vector (sequence 1234, MsgFormat 15, "hello test msg" from
    /// 10690001111 to 17600000000, NeedReport 1, Priority 2).
    #[test]
    fn submit_matches_the_go_sms_protocol_vector() {
        let codec = Smgp { msg_format: 15, ..smgp() };
        let part = Part {
            dest: "17600000000",
            source: "10690001111",
            udh: None,
            payload: b"hello test msg",
            total: 1,
            number: 1,
        };
        let frame = frame_bytes(&Frame {
            command: Smgp::SUBMIT,
            sequence: 1234,
            stamp: (0, 0),
            body: codec.submit(&part).unwrap(),
        });
        let mut want = vec![0, 0, 0, 0xa1, 0, 0, 0, 2, 0, 0, 4, 0xd2, 6, 1, 2];
        want.extend(b"serviceId\0");
        want.extend(b"0\0"); // FeeType (2)
        want.extend(b"0\0\0\0\0\0"); // FeeCode (6)
        want.extend(b"0\0\0\0\0\0"); // FixedFee (6)
        want.push(15);
        want.extend([0u8; 34]);
        want.extend(b"10690001111");
        want.extend([0u8; 10 + 21]);
        want.push(1);
        want.extend(b"17600000000");
        want.extend([0u8; 10]);
        want.push(14);
        want.extend(b"hello test msg");
        want.extend([0u8; 8]);
        assert_eq!(frame, want);
    }

    #[test]
    fn a_long_part_carries_udhi_and_the_part_numbers_as_tlvs() {
        let udh = [5, 0, 3, 0x2A, 3, 2];
        let part =
            Part { dest: "13300000000", source: "1065", udh: Some(udh), payload: &[0x65, 0x36], total: 3, number: 2 };
        let body = smgp().submit(&part).unwrap();
        assert_eq!(body[13 + 2 + 6 + 6], 8, "MsgFormat 8, UCS-2");
        let tlvs = &body[body.len() - 15..];
        assert_eq!(tlvs, [0, 2, 0, 1, 1, 0, 9, 0, 1, 3, 0, 10, 0, 1, 2]);
        let content = &body[body.len() - 15 - 8 - 8..body.len() - 15 - 8];
        assert_eq!(content, [5, 0, 3, 0x2A, 3, 2, 0x65, 0x36]);
    }

    /// Submit_Resp from the same file: MsgID 01 02 … 09 01, status 0.
    #[test]
    fn submit_resp_gives_the_msgid_as_hex() {
        let body = [1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 0, 0, 0, 0];
        assert_eq!(smgp().submit_answer(&resp(&body)).unwrap(), ("01020304050607080901".into(), 0));
        assert!(smgp().submit_answer(&resp(&body[..9])).unwrap_err().to_string().contains("Submit_Resp"));
    }

    fn deliver(content: &[u8]) -> Vec<u8> {
        let mut body = vec![0x99; 10];
        body.extend([1, 0]);
        body.extend(b"20261203120000");
        body.extend(b"13300000000\0\0\0\0\0\0\0\0\0\0");
        body.extend(b"1065\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
        body.push(u8::try_from(content.len()).unwrap());
        body.extend(content);
        body.extend([0u8; 8]);
        body
    }

    /// The fixed-width report of go_smgp `protocol/report.go` (`NewReport`).
    #[test]
    fn a_status_report_becomes_a_delivery_report() {
        let mut content = b"id:".to_vec();
        content.extend([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x01]);
        content.extend(b" sub:001 dlvrd:001 Submit date:2612031200 done date:2612031201 stat:DELIVRD err:000 Text:");
        content.extend([0u8; 20]);
        assert_eq!(content.len(), 122);
        let (report, answer) = smgp().deliver(&deliver(&content)).unwrap();
        let report = report.unwrap();
        assert_eq!(report.message_id, "01020304050607080901");
        assert_eq!(report.state, ReportState::Delivered);
        assert_eq!(report.error.as_deref(), Some("000"));
        assert_eq!(report.done_date.as_deref(), Some("2612031201"));
        assert_eq!(report.recipient, "13300000000");
        assert_eq!(answer, [vec![0x99; 10], vec![0; 4]].concat(), "Deliver_Resp: MsgID, status 0");

        let text = b"id:0102030405060708090A sub:001 dlvrd:000 stat:UNDELIV err:006";
        let report = smgp().deliver(&deliver(text)).unwrap().0.unwrap();
        assert_eq!((report.message_id.as_str(), report.state), ("0102030405060708090a", ReportState::Undeliverable));
    }

    #[test]
    fn a_message_from_a_handset_is_no_report_and_short_bodies_are_named() {
        let mut body = deliver(b"hello");
        body[10] = 0;
        assert!(smgp().deliver(&body).unwrap().0.is_none());
        let err = smgp().deliver(&body[..40]).unwrap_err().to_string();
        assert!(err.contains("Deliver body of 40 octets"), "{err}");
    }

    #[test]
    fn statuses_are_sorted_into_retry_and_give_up() {
        assert_eq!(status(0).0, StatusKind::Ok);
        assert_eq!(status(1).0, StatusKind::Throttled);
        let (kind, name) = status(21);
        assert_eq!(kind, StatusKind::Permanent);
        assert!(name.contains("21") && name.contains("认证错"), "{name}");
        assert_eq!(status(47).0, StatusKind::Permanent);
        assert_eq!(status(75).0, StatusKind::Temporary);
        assert_eq!(status(999).0, StatusKind::Temporary, "an unknown code may pass later");
    }
}
