//! What the carriers' gateway protocols share on the wire, and the [`Protocol`] trait each codec
//! fills in: a header of length, command and sequence (12 octets in SMGP 3.0 and CMPP 3.0, 20 in
//! SGIP 1.2; responses set the top bit), fixed-width NUL-padded text fields, and the MD5 login
//! authenticator over a MMDDHHMMSS timestamp.

use bytes::{Buf, BufMut, BytesMut};
use md5::{Digest, Md5};

use super::super::smpp::DeliveryReport;

/// Length, command id and sequence id: 4 octets each, big-endian.
pub const HEADER: usize = 12;
/// The largest frame accepted; a Submit with one destination and 140 octets of content is
/// under 400, a Deliver under 300. Anything longer is a broken or hostile peer.
pub const MAX_FRAME: usize = 4096;
/// The bit a response sets in the command id.
pub const RESPONSE: u32 = 0x8000_0000;

/// One frame: command, sequence and the body after the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub command: u32,
    /// SMGP's and CMPP's sequence id; SGIP's counter, the last of its three sequence words.
    pub sequence: u32,
    /// SGIP's first two sequence words, the node id and the MMDDHHMMSS the command was made;
    /// (0, 0) in SMGP and CMPP, whose header has no room for them.
    pub stamp: (u32, u32),
    pub body: Vec<u8>,
}

/// A frame that cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length field is below the header (the second number) or above [`MAX_FRAME`].
    #[error("frame length {0} outside {1}..={MAX_FRAME}")]
    Length(u32, usize),
    /// A body too short for the fields its command carries.
    #[error("{what} body of {got} octets, {need} needed")]
    Short { what: &'static str, need: usize, got: usize },
    /// The connection failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Frames both ways, for `tokio_util::codec::Framed`.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameCodec;

impl tokio_util::codec::Decoder for FrameCodec {
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
        let sequence = frame.get_u32();
        Ok(Some(Frame { command, sequence, stamp: (0, 0), body: frame.to_vec() }))
    }
}

impl tokio_util::codec::Encoder<Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        let len = HEADER + frame.body.len();
        let length =
            u32::try_from(len).ok().filter(|_| len <= MAX_FRAME).ok_or(FrameError::Length(u32::MAX, HEADER))?;
        dst.reserve(len);
        dst.put_u32(length);
        dst.put_u32(frame.command);
        dst.put_u32(frame.sequence);
        dst.put_slice(&frame.body);
        Ok(())
    }
}

/// The whole frame as octets (for golden vectors and the benchmark).
pub fn frame_bytes(frame: &Frame) -> Vec<u8> {
    let mut out = BytesMut::new();
    let _ = tokio_util::codec::Encoder::encode(&mut FrameCodec, frame.clone(), &mut out);
    out.to_vec()
}

/// How the client treats a status code a gateway answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusKind {
    /// Success.
    Ok,
    /// Slow down: wait a moment and submit the same part again.
    Throttled,
    /// May pass later (busy, system error, a code this table does not know).
    Temporary,
    /// Will never pass as it is (bad number, bad field, refused account or content).
    Permanent,
}

/// One part of a text as the codecs need it.
#[derive(Clone, Debug)]
pub struct Part<'a> {
    /// The national number without "+86" (digits only).
    pub dest: &'a str,
    /// The SP number plus extension shown on the handset.
    pub source: &'a str,
    /// Concatenation header and UCS-2 payload (`udh` present when `total > 1`).
    pub udh: Option<[u8; 6]>,
    pub payload: &'a [u8],
    pub total: u8,
    pub number: u8,
}

impl Part<'_> {
    /// The message content: header (if any) followed by the payload.
    pub fn content(&self) -> Vec<u8> {
        let mut out = self.udh.map(|u| u.to_vec()).unwrap_or_default();
        out.extend_from_slice(self.payload);
        out
    }
}

/// Who logs in and with what; `timestamp` is MMDDHHMMSS as a number.
#[derive(Clone, Debug)]
pub struct Login<'a> {
    pub account: &'a str,
    pub secret: &'a str,
    pub timestamp: u32,
    /// Delivery reports wanted on this connection (SMGP LoginMode 2 instead of 0).
    pub receive: bool,
}

/// A gateway protocol: its framing, command ids, and the bodies of what the client sends and
/// reads. Pure: no I/O, no clock (the session passes the timestamp).
pub trait Protocol: Send + Sync + 'static {
    /// "SMGP 3.0", for messages and logs.
    const NAME: &'static str;
    /// The frames on the wire ([`FrameCodec`] for the 12-octet header).
    type Codec: tokio_util::codec::Decoder<Item = Frame, Error = FrameError>
        + tokio_util::codec::Encoder<Frame, Error = FrameError>
        + Send
        + Unpin
        + 'static;
    const LOGIN: u32;
    const SUBMIT: u32;
    const DELIVER: u32;
    const ACTIVE_TEST: u32;
    /// SMGP Exit, CMPP Terminate.
    const EXIT: u32;

    /// A codec for one connection.
    fn codec(&self) -> Self::Codec;
    /// The [`Frame::stamp`] of a request made at `now` (MMDDHHMMSS).
    fn stamp(&self, _now: u32) -> (u32, u32) {
        (0, 0)
    }
    /// The login (SMGP Login, CMPP Connect, SGIP Bind) body.
    fn login(&self, login: &Login<'_>) -> Result<Vec<u8>, String>;
    /// The status of a login answer (0 = logged in).
    fn login_status(&self, body: &[u8]) -> Result<u32, FrameError>;
    /// A Submit body for one part.
    fn submit(&self, part: &Part<'_>) -> Result<Vec<u8>, String>;
    /// A Submit answer: the message id in the textual form the reports use (the gateway's, or
    /// in SGIP the Submit's own sequence the answer echoes), and the status.
    fn submit_answer(&self, answer: &Frame) -> Result<(String, u32), FrameError>;
    /// A Deliver: the status report it carries (`None` for a message from a handset), and the
    /// body of the answer.
    fn deliver(&self, body: &[u8]) -> Result<(Option<DeliveryReport>, Vec<u8>), FrameError>;
    /// The body of an Active_Test answer.
    fn active_test_answer(&self) -> Vec<u8>;
    /// How a status is treated and its name ("1 系统忙 (system busy)").
    fn status(&self, code: u32) -> (StatusKind, String);
    /// How a refused login is treated: as [`Protocol::status`] unless the protocol numbers
    /// login answers apart.
    fn login_refusal(&self, code: u32) -> (StatusKind, String) {
        self.status(code)
    }
}

/// `value` in a NUL-padded field of `width` octets; longer values are an error naming `field`.
pub fn put_fixed(out: &mut Vec<u8>, field: &str, value: &str, width: usize) -> Result<(), String> {
    if value.len() > width || !value.is_ascii() {
        return Err(format!("{field} {value:?}: at most {width} ASCII characters"));
    }
    out.extend_from_slice(value.as_bytes());
    out.resize(out.len() + width - value.len(), 0);
    Ok(())
}

/// A NUL-padded field as text (up to the first NUL).
pub fn fixed_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).trim().to_string()
}

/// Checks a body is at least `need` octets long.
pub fn need(what: &'static str, body: &[u8], need: usize) -> Result<(), FrameError> {
    if body.len() < need {
        return Err(FrameError::Short { what, need, got: body.len() });
    }
    Ok(())
}

/// MD5(account + `zeros` NUL octets + secret + timestamp as 10 digits): SMGP's
/// AuthenticatorClient (7 zeros) and CMPP's AuthenticatorSource (9 zeros).
pub fn authenticator(account: &str, zeros: usize, secret: &str, timestamp: u32) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(account.as_bytes());
    md5.update(vec![0u8; zeros]);
    md5.update(secret.as_bytes());
    md5.update(format!("{timestamp:010}").as_bytes());
    md5.finalize().into()
}

/// The timestamp of a login, MMDDHHMMSS, in China Standard Time (UTC+8, no daylight saving):
/// the gateways compare it with their own clock.
pub fn timestamp_now() -> u32 {
    use chrono::{Datelike, Timelike};
    let t = chrono::Utc::now() + chrono::Duration::hours(8);
    t.month() * 100_000_000 + t.day() * 1_000_000 + t.hour() * 10_000 + t.minute() * 100 + t.second()
}

/// A u32 at `at` (big-endian); callers have checked the length.
pub fn u32_at(body: &[u8], at: usize) -> u32 {
    body.get(at..at + 4).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::codec::Decoder;

    #[test]
    fn frames_split_on_their_length_and_bad_lengths_are_named() {
        let frame = Frame { command: 4, sequence: 9, stamp: (0, 0), body: vec![] };
        let mut buf = BytesMut::from(&frame_bytes(&frame)[..]);
        buf.extend_from_slice(&[0, 0, 0]);
        assert_eq!(FrameCodec.decode(&mut buf).unwrap(), Some(frame));
        assert_eq!(FrameCodec.decode(&mut buf).unwrap(), None, "three octets are no length yet");
        let mut bad = BytesMut::from(&[0u8, 0, 0, 5, 0, 0, 0, 4][..]);
        let err = FrameCodec.decode(&mut bad).unwrap_err().to_string();
        assert!(err.contains("frame length 5"), "{err}");
        let mut huge = BytesMut::from(&[0x7F, 0, 0, 0][..]);
        assert!(FrameCodec.decode(&mut huge).is_err());
    }

    #[test]
    fn fixed_fields_pad_with_nul_and_refuse_what_does_not_fit() {
        let mut out = Vec::new();
        put_fixed(&mut out, "ServiceID", "abc", 5).unwrap();
        assert_eq!(out, b"abc\0\0");
        assert_eq!(fixed_text(&out), "abc");
        let err = put_fixed(&mut out, "ServiceID", "too long", 5).unwrap_err();
        assert!(err.contains("ServiceID") && err.contains("at most 5"), "{err}");
    }

    #[test]
    fn the_timestamp_reads_as_a_month_day_and_time() {
        let t = timestamp_now();
        let (month, day) = (t / 100_000_000, t / 1_000_000 % 100);
        assert!((1..=12).contains(&month) && (1..=31).contains(&day), "{t}");
        assert!(t % 100 < 60 && t / 100 % 100 < 60 && t / 10_000 % 100 < 24, "{t}");
    }
}
