//! The TCP frame around an ISO 8583 message: a length header, the TPDU and the application
//! header, as pure functions the network link calls around its reads and writes.

/// The TPDU's identifier byte ("transaction" TPDU).
pub const TPDU_ID: u8 = 0x60;

/// What is wrong with a frame. Carries lengths and addresses only, never message bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The frame (bytes after the length header) is larger than allowed.
    #[error("frame of {got} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// The configured maximum (or what the length header can express).
        max: usize,
        /// The frame's length.
        got: usize,
    },
    /// An ASCII length header that is not 4 digits.
    #[error("length header is not {0} ASCII digits")]
    BadLengthHeader(usize),
    /// The length header given to [`Framing::length_of`] has the wrong size.
    #[error("length header needs {need} bytes, got {got}")]
    HeaderSize {
        /// The header size of the configured [`LengthHeader`].
        need: usize,
        /// The bytes given.
        got: usize,
    },
    /// The frame is too short for its TPDU and application header.
    #[error("frame of {have} bytes is shorter than its {need}-byte TPDU and header")]
    Truncated {
        /// TPDU plus application header length.
        need: usize,
        /// The frame's length.
        have: usize,
    },
    /// The TPDU does not start with 0x60.
    #[error("TPDU id {0:#04x} is not 0x60")]
    BadTpduId(u8),
    /// The TPDU addresses are not ours (in either order).
    #[error("TPDU addresses {dest:04X}/{src:04X} are not ours")]
    WrongAddress {
        /// Destination address found.
        dest: u16,
        /// Source address found.
        src: u16,
    },
}

/// How the frame length is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LengthHeader {
    /// 2 bytes big-endian.
    #[default]
    Binary2,
    /// 4 ASCII digits ("0123").
    Ascii4,
}

impl LengthHeader {
    /// Size of the length header in bytes.
    pub fn size(self) -> usize {
        match self {
            LengthHeader::Binary2 => 2,
            LengthHeader::Ascii4 => 4,
        }
    }

    fn limit(self) -> usize {
        match self {
            LengthHeader::Binary2 => usize::from(u16::MAX),
            LengthHeader::Ascii4 => 9999,
        }
    }
}

/// The 5-byte TPDU: 0x60, destination, source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tpdu {
    /// Destination address (the host's NII), e.g. 0x0003.
    pub dest: u16,
    /// Source address (ours), e.g. 0x0000.
    pub src: u16,
}

impl Default for Tpdu {
    fn default() -> Self {
        Tpdu { dest: 0x0003, src: 0x0000 }
    }
}

/// The frame settings of one host link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framing {
    /// How the length is written.
    pub length: LengthHeader,
    /// The TPDU, if the host uses one.
    pub tpdu: Option<Tpdu>,
    /// The application header sent after the TPDU; the host answers with one of the same size.
    pub app_header: Vec<u8>,
    /// The largest frame (bytes after the length header) sent or accepted: a guard against a
    /// garbage length making the reader wait for or allocate 64 KiB.
    pub max_frame: usize,
}

impl Default for Framing {
    /// Binary length, TPDU 60 0003 0000, header 60 31 00 31 00 00, frames up to 2048 bytes.
    fn default() -> Self {
        Framing {
            length: LengthHeader::Binary2,
            tpdu: Some(Tpdu::default()),
            app_header: vec![0x60, 0x31, 0x00, 0x31, 0x00, 0x00],
            max_frame: 2048,
        }
    }
}

impl Framing {
    fn prelude_len(&self) -> usize {
        self.tpdu.map_or(0, |_| 5) + self.app_header.len()
    }

    fn max(&self) -> usize {
        self.max_frame.min(self.length.limit())
    }

    /// The whole frame for a message body: length, TPDU, application header, body.
    pub fn encode(&self, body: &[u8]) -> Result<Vec<u8>, FrameError> {
        let len = self.prelude_len() + body.len();
        if len > self.max() {
            return Err(FrameError::TooLarge { max: self.max(), got: len });
        }
        let mut out = Vec::with_capacity(self.length.size() + len);
        match self.length {
            // `len <= u16::MAX` was checked above.
            LengthHeader::Binary2 => out.extend_from_slice(&(len as u16).to_be_bytes()),
            LengthHeader::Ascii4 => out.extend_from_slice(format!("{len:04}").as_bytes()),
        }
        if let Some(t) = self.tpdu {
            out.push(TPDU_ID);
            out.extend_from_slice(&t.dest.to_be_bytes());
            out.extend_from_slice(&t.src.to_be_bytes());
        }
        out.extend_from_slice(&self.app_header);
        out.extend_from_slice(body);
        Ok(out)
    }

    /// For the reader: how many bytes follow a length header of [`LengthHeader::size`] bytes.
    pub fn length_of(&self, header: &[u8]) -> Result<usize, FrameError> {
        let need = self.length.size();
        if header.len() != need {
            return Err(FrameError::HeaderSize { need, got: header.len() });
        }
        let len = match self.length {
            LengthHeader::Binary2 => usize::from(u16::from_be_bytes([header[0], header[1]])),
            LengthHeader::Ascii4 => {
                if !header.iter().all(u8::is_ascii_digit) {
                    return Err(FrameError::BadLengthHeader(need));
                }
                header.iter().fold(0, |acc, d| acc * 10 + usize::from(d - b'0'))
            }
        };
        if len > self.max() {
            return Err(FrameError::TooLarge { max: self.max(), got: len });
        }
        Ok(len)
    }

    /// For the reader: checks the TPDU (id 0x60, our two addresses in either order) and the
    /// header's length, and returns the message body. The header's bytes are not compared,
    /// since hosts may set flags in it.
    pub fn split<'a>(&self, payload: &'a [u8]) -> Result<&'a [u8], FrameError> {
        let need = self.prelude_len();
        if payload.len() < need {
            return Err(FrameError::Truncated { need, have: payload.len() });
        }
        if let Some(ours) = self.tpdu {
            if payload[0] != TPDU_ID {
                return Err(FrameError::BadTpduId(payload[0]));
            }
            let dest = u16::from_be_bytes([payload[1], payload[2]]);
            let src = u16::from_be_bytes([payload[3], payload[4]]);
            let as_sent = (dest, src) == (ours.dest, ours.src);
            let swapped = (dest, src) == (ours.src, ours.dest);
            if !(as_sent || swapped) {
                return Err(FrameError::WrongAddress { dest, src });
            }
        }
        Ok(&payload[need..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_frame_is_length_tpdu_header_body() {
        let framing = Framing::default();
        let frame = framing.encode(&[0x08, 0x00]).expect("small");
        // 13 bytes after the length: TPDU (5) + header (6) + body (2).
        assert_eq!(hex::encode_upper(&frame), "000D60000300006031003100000800");
        assert_eq!(framing.length_of(&frame[..2]), Ok(13));
        assert_eq!(framing.split(&frame[2..]), Ok(&[0x08, 0x00][..]));
    }

    #[test]
    fn ascii_length_and_no_tpdu_or_header() {
        let framing = Framing { length: LengthHeader::Ascii4, tpdu: None, app_header: vec![], max_frame: 2048 };
        let frame = framing.encode(&[1, 2, 3]).expect("small");
        assert_eq!(frame, b"0003\x01\x02\x03");
        assert_eq!(framing.length_of(b"0003"), Ok(3));
        assert_eq!(framing.length_of(b"00x3"), Err(FrameError::BadLengthHeader(4)));
        assert_eq!(framing.length_of(b"003"), Err(FrameError::HeaderSize { need: 4, got: 3 }));
        assert_eq!(framing.split(&[1, 2, 3]), Ok(&[1, 2, 3][..]));
    }

    #[test]
    fn host_answer_with_swapped_addresses_is_accepted_others_refused() {
        let framing = Framing::default();
        let answer = [0x60, 0x00, 0x00, 0x00, 0x03, 0x60, 0x31, 0x00, 0x31, 0x00, 0x00, 0x08, 0x10];
        assert_eq!(framing.split(&answer), Ok(&[0x08, 0x10][..]));
        let mut other = answer;
        other[2] = 0x07;
        assert_eq!(framing.split(&other), Err(FrameError::WrongAddress { dest: 0x0007, src: 0x0003 }));
        let mut bad_id = answer;
        bad_id[0] = 0x68;
        assert_eq!(framing.split(&bad_id), Err(FrameError::BadTpduId(0x68)));
        assert_eq!(framing.split(&answer[..10]), Err(FrameError::Truncated { need: 11, have: 10 }));
    }

    #[test]
    fn oversized_frames_are_refused_both_ways() {
        let framing = Framing { max_frame: 20, ..Framing::default() };
        assert_eq!(framing.length_of(&[0x00, 0x15]), Err(FrameError::TooLarge { max: 20, got: 21 }));
        assert_eq!(framing.length_of(&[0xFF, 0xFF]), Err(FrameError::TooLarge { max: 20, got: 65535 }));
        assert!(framing.encode(&[0; 9]).is_ok());
        assert_eq!(framing.encode(&[0; 10]), Err(FrameError::TooLarge { max: 20, got: 21 }));
        let huge = Framing { length: LengthHeader::Ascii4, max_frame: 100_000, ..Framing::default() };
        assert!(matches!(huge.encode(&[0; 10_000]), Err(FrameError::TooLarge { max: 9999, .. })));
    }
}
