//! CMPP 3.0 (China Mobile's SP gateway protocol): Connect, Submit with the fee fields and
//! Pk_total/Pk_number for long messages, Deliver carrying a status report, and the result table.

use super::protocol::{
    authenticator, fixed_text, need, put_fixed, u32_at, Frame, FrameCodec, FrameError, Login, Part, Protocol,
    StatusKind,
};
use crate::infra::delivery::smpp::{DeliveryReport, ReportState};

/// CMPP 3.0 with the submit fields from the settings (`[delivery.cmpp]`).
#[derive(Clone, Debug)]
pub struct Cmpp {
    /// Service_Id (10).
    pub service_id: String,
    /// Fee_UserType: 0 the recipient pays, 1 the sender, 2 the SP, 3 Fee_terminal_Id.
    pub fee_user_type: u8,
    /// Fee_terminal_Id (32), used with Fee_UserType 3.
    pub fee_terminal_id: String,
    /// Msg_src (6): the SP's enterprise code, usually the account.
    pub msg_src: String,
    /// FeeType (2): "01" free, "02" per message, "03" monthly …
    pub fee_type: String,
    /// FeeCode (6), in fen.
    pub fee_code: String,
    /// ValId_Time (17); empty: the gateway's default.
    pub valid_time: String,
    /// Registered_Delivery: ask for a status report of every part.
    pub need_report: bool,
    /// Msg_level.
    pub msg_level: u8,
}

impl Protocol for Cmpp {
    const NAME: &'static str = "CMPP 3.0";
    type Codec = FrameCodec;
    const LOGIN: u32 = 0x0000_0001;
    const SUBMIT: u32 = 0x0000_0004;
    const DELIVER: u32 = 0x0000_0005;
    const ACTIVE_TEST: u32 = 0x0000_0008;
    const EXIT: u32 = 0x0000_0002;

    fn codec(&self) -> FrameCodec {
        FrameCodec
    }

    /// Source_Addr (6), AuthenticatorSource = MD5(Source_Addr + 9 NULs + secret + timestamp)
    /// (16), Version 0x30 (1), Timestamp (4).
    fn login(&self, login: &Login<'_>) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(27);
        put_fixed(&mut out, "account (Source_Addr)", login.account, 6)?;
        out.extend(authenticator(login.account, 9, login.secret, login.timestamp));
        out.push(0x30);
        out.extend(login.timestamp.to_be_bytes());
        Ok(out)
    }

    /// Status (4 in CMPP 3.0), AuthenticatorISMG (16), Version (1).
    fn login_status(&self, body: &[u8]) -> Result<u32, FrameError> {
        need("Connect_Resp", body, 4)?;
        Ok(u32_at(body, 0))
    }

    fn submit(&self, part: &Part<'_>) -> Result<Vec<u8>, String> {
        let content = part.content();
        let length = u8::try_from(content.len()).map_err(|_| "Msg_Content over 255 octets".to_string())?;
        let mut out = Vec::with_capacity(200 + content.len());
        out.extend([0u8; 8]);
        out.extend([part.total, part.number, u8::from(self.need_report), self.msg_level]);
        put_fixed(&mut out, "service_id (Service_Id)", &self.service_id, 10)?;
        out.push(self.fee_user_type);
        put_fixed(&mut out, "fee_terminal_id (Fee_terminal_Id)", &self.fee_terminal_id, 32)?;
        out.extend([0, 0, u8::from(part.udh.is_some()), 8]);
        put_fixed(&mut out, "msg_src (Msg_src)", &self.msg_src, 6)?;
        put_fixed(&mut out, "fee_type (FeeType)", &self.fee_type, 2)?;
        put_fixed(&mut out, "fee_code (FeeCode)", &self.fee_code, 6)?;
        put_fixed(&mut out, "ValId_Time", &self.valid_time, 17)?;
        put_fixed(&mut out, "At_Time", "", 17)?;
        put_fixed(&mut out, "source_number (Src_Id)", part.source, 21)?;
        out.push(1);
        put_fixed(&mut out, "Dest_terminal_Id", part.dest, 32)?;
        out.push(0);
        out.push(length);
        out.extend(content);
        out.extend([0u8; 20]);
        Ok(out)
    }

    /// Msg_Id (8), Result (4). The Msg_Id is printed as its decimal 64-bit value, the form the
    /// status report's Msg_Id takes here too.
    fn submit_answer(&self, answer: &Frame) -> Result<(String, u32), FrameError> {
        let body = &answer.body;
        need("Submit_Resp", body, 12)?;
        Ok((msg_id(&body[..8]), u32_at(body, 8)))
    }

    /// Msg_Id (8), Dest_Id (21), Service_Id (10), TP_pid, TP_udhi, Msg_Fmt, Src_terminal_Id
    /// (32), Src_terminal_type, Registered_Delivery, Msg_Length, Msg_Content, LinkID (20).
    /// Answered Msg_Id + Result 0.
    fn deliver(&self, body: &[u8]) -> Result<(Option<DeliveryReport>, Vec<u8>), FrameError> {
        need("Deliver", body, 77)?;
        let length = usize::from(body[76]);
        need("Deliver", body, 77 + length)?;
        let mut answer = body[..8].to_vec();
        answer.extend(0u32.to_be_bytes());
        if body[75] != 1 {
            return Ok((None, answer));
        }
        Ok((report(&body[77..77 + length])?, answer))
    }

    /// Reserved (1).
    fn active_test_answer(&self) -> Vec<u8> {
        vec![0]
    }

    fn status(&self, code: u32) -> (StatusKind, String) {
        status(code)
    }

    fn login_refusal(&self, code: u32) -> (StatusKind, String) {
        connect_status(code)
    }
}

/// A Msg_Id as its decimal value.
fn msg_id(octets: &[u8]) -> String {
    let mut id = [0u8; 8];
    id.copy_from_slice(&octets[..8]);
    u64::from_be_bytes(id).to_string()
}

/// The status report in a Deliver's Msg_Content: Msg_Id (8), Stat (7), Submit_time (10),
/// Done_time (10), Dest_terminal_Id (32), SMSC_sequence (4).
fn report(content: &[u8]) -> Result<Option<DeliveryReport>, FrameError> {
    need("status report", content, 71)?;
    let stat = fixed_text(&content[8..15]);
    Ok(Some(DeliveryReport {
        message_id: msg_id(&content[..8]),
        state: ReportState::from_stat(&stat),
        // CMPP has no separate error field: the Stat word is the error ("MK:0001", "UNDELIV").
        error: (!stat.eq_ignore_ascii_case("DELIVRD")).then_some(stat),
        done_date: Some(fixed_text(&content[25..35])).filter(|d| !d.is_empty()),
        recipient: fixed_text(&content[35..67]),
    }))
}

/// The CMPP 3.0 Submit_Resp results (hujm2023/go-sms-protocol `cmpp/cmpp30/pdu_submit.go`)
/// and Connect_Resp statuses (1 to 4, same numbers as the results they share). 8 is flow
/// control: retried after a pause.
const RESULTS: &[(u32, StatusKind, &str)] = {
    use StatusKind::*;
    &[
        (0, Ok, "正确 (success)"),
        (1, Permanent, "消息结构错 (malformed message)"),
        (2, Permanent, "命令字错 (unknown command)"),
        (3, Temporary, "消息序号重复 (duplicate sequence id)"),
        (4, Permanent, "消息长度错 (message length)"),
        (5, Permanent, "资费代码错 (fee code)"),
        (6, Permanent, "超过最大信息长 (message too long)"),
        (7, Permanent, "业务代码错 (Service_Id)"),
        (8, Throttled, "流量控制错 (flow control)"),
        (9, Temporary, "需重新提交 (submit again)"),
        (10, Permanent, "Msg_src 错"),
        (11, Permanent, "FeeType 错"),
        (12, Permanent, "FeeCode 错"),
        (13, Permanent, "ValId_Time 错"),
        (14, Permanent, "At_Time 错"),
        (15, Permanent, "Src_Id 错"),
        (16, Permanent, "DestUsr_tl 错"),
        (17, Permanent, "Dest_terminal_Id 错 (bad number)"),
        (18, Permanent, "Msg_Length 错"),
        (19, Permanent, "Msg_Content 错"),
        (20, Permanent, "Fee_terminal_Id 错"),
    ]
};

/// Connect_Resp statuses where they differ from the submit results.
const CONNECT: &[(u32, &str)] = &[
    (2, "非法源地址 (Source_Addr not allowed)"),
    (3, "认证错 (authentication failed: check account and secret)"),
    (4, "版本太高 (version too high)"),
];

/// How a Submit_Resp result is treated, with its number and name.
pub fn status(code: u32) -> (StatusKind, String) {
    match RESULTS.iter().find(|(c, _, _)| *c == code) {
        Some((_, kind, name)) => (*kind, format!("CMPP result {code} {name}")),
        None => (StatusKind::Temporary, format!("CMPP result {code} (other error)")),
    }
}

/// A Connect_Resp status: 2 to 4 never pass with the same settings.
pub fn connect_status(code: u32) -> (StatusKind, String) {
    match CONNECT.iter().find(|(c, _)| *c == code) {
        Some((_, name)) => (StatusKind::Permanent, format!("CMPP connect status {code} {name}")),
        None => (StatusKind::Temporary, format!("CMPP connect status {code}")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::protocol::frame_bytes;
    use super::*;

    /// A Submit_Resp frame around `body`.
    fn resp(body: &[u8]) -> Frame {
        Frame { command: Cmpp::SUBMIT | 0x8000_0000, sequence: 7, stamp: (0, 0), body: body.to_vec() }
    }

    fn cmpp() -> Cmpp {
        Cmpp {
            service_id: "test".into(),
            fee_user_type: 2,
            fee_terminal_id: "13500002696".into(),
            msg_src: "900001".into(),
            fee_type: "02".into(),
            fee_code: "10".into(),
            valid_time: "151105131555101+".into(),
            need_report: true,
            msg_level: 1,
        }
    }

    /// hujm2023/go-sms-protocol `cmpp/cmpp30/pdu_connect_test.go`: Source_Addr "900001",
    /// secret "888888", 10-21 08:05:10, sequence 0x17.
    #[test]
    fn connect_matches_the_go_sms_protocol_vector() {
        let login = Login { account: "900001", secret: "888888", timestamp: 1_021_080_510, receive: true };
        let body = cmpp().login(&login).unwrap();
        let frame = frame_bytes(&Frame { command: Cmpp::LOGIN, sequence: 0x17, stamp: (0, 0), body });
        let want =
            hex::decode("00000027000000010000001739303030303190d00c1d517abd0b4f65f6bcf8535d16303cdc73be").unwrap();
        assert_eq!(frame, want);
    }

    /// The same project's `cmpp/cmpp30/pdu_submit_test.go` vector: "go submit" from 900001 to
    /// 13500002696, sequence 0x17, 204 octets.
    #[test]
    fn submit_matches_the_go_sms_protocol_vector() {
        let part =
            Part { dest: "13500002696", source: "900001", udh: None, payload: b"go submit", total: 1, number: 1 };
        let frame = frame_bytes(&Frame {
            command: Cmpp::SUBMIT,
            sequence: 0x17,
            stamp: (0, 0),
            body: cmpp().submit(&part).unwrap(),
        });
        let mut want = vec![0, 0, 0, 204, 0, 0, 0, 4, 0, 0, 0, 23, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1];
        want.extend(b"test\0\0\0\0\0\0");
        want.push(2);
        want.extend(b"13500002696");
        want.extend([0u8; 21]);
        want.extend([0, 0, 0, 8]);
        want.extend(b"900001");
        want.extend(b"02");
        want.extend(b"10\0\0\0\0");
        want.extend(b"151105131555101+\0");
        want.extend([0u8; 17]);
        want.extend(b"900001");
        want.extend([0u8; 15]);
        want.push(1);
        want.extend(b"13500002696");
        want.extend([0u8; 21]);
        want.extend([0, 9]);
        want.extend(b"go submit");
        want.extend([0u8; 20]);
        assert_eq!(frame, want);
    }

    #[test]
    fn a_long_part_sets_udhi_and_the_part_numbers() {
        let udh = [5, 0, 3, 7, 3, 3];
        let part =
            Part { dest: "13800138000", source: "1065", udh: Some(udh), payload: &[0x65, 0x36], total: 3, number: 3 };
        let body = cmpp().submit(&part).unwrap();
        assert_eq!(&body[8..10], [3, 3], "Pk_total, Pk_number");
        assert_eq!(
            &body[10 + 2 + 10 + 1 + 32..10 + 2 + 10 + 1 + 32 + 4],
            [0, 0, 1, 8],
            "Fee_terminal_type, TP_pId, TP_udhi, Msg_Fmt"
        );
        let content = &body[body.len() - 20 - 8..body.len() - 20];
        assert_eq!(content, [5, 0, 3, 7, 3, 3, 0x65, 0x36]);
    }

    #[test]
    fn submit_resp_gives_the_msg_id_in_decimal() {
        let mut body = 0x0123_4567_89AB_CDEF_u64.to_be_bytes().to_vec();
        body.extend(8u32.to_be_bytes());
        let (id, result) = cmpp().submit_answer(&resp(&body)).unwrap();
        assert_eq!((id.as_str(), result), ("81985529216486895", 8));
        assert_eq!(status(result).0, StatusKind::Throttled);
    }

    #[test]
    fn a_status_report_becomes_a_delivery_report() {
        let mut content = 42u64.to_be_bytes().to_vec();
        content.extend(b"DELIVRD2612031200261203120113800138000");
        content.extend([0u8; 21]);
        content.extend(7u32.to_be_bytes());
        let mut body = 99u64.to_be_bytes().to_vec();
        body.extend(b"1065\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
        body.extend([0u8; 10 + 3]);
        body.extend(b"13800138000");
        body.extend([0u8; 21 + 1]);
        body.push(1);
        body.push(71);
        body.extend(&content);
        body.extend([0u8; 20]);
        let (report, answer) = cmpp().deliver(&body).unwrap();
        let report = report.unwrap();
        assert_eq!(report.message_id, "42");
        assert_eq!(report.state, ReportState::Delivered);
        assert_eq!(report.error, None);
        assert_eq!(report.done_date.as_deref(), Some("2612031201"));
        assert_eq!(report.recipient, "13800138000");
        assert_eq!(answer, [99u64.to_be_bytes().to_vec(), vec![0; 4]].concat());
        body[75] = 0;
        assert!(cmpp().deliver(&body).unwrap().0.is_none(), "an MO message is no report");
        assert!(cmpp().deliver(&body[..60]).unwrap_err().to_string().contains("Deliver body of 60"));
    }

    #[test]
    fn connect_refusals_are_permanent_and_named() {
        let (kind, name) = connect_status(3);
        assert_eq!(kind, StatusKind::Permanent);
        assert!(name.contains("认证错"), "{name}");
        assert_eq!(status(17).0, StatusKind::Permanent);
        assert_eq!(status(99).0, StatusKind::Temporary);
    }
}
