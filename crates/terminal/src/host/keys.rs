//! The terminal master key (from settings) and the working keys (PIK, MAK) it unwraps from a
//! sign-in answer's field 62; all zeroized on drop and redacted in `Debug`.

use std::fmt;

use des::cipher::generic_array::GenericArray;
use des::cipher::KeyInit;
use des::{Des, TdesEde2};
use ereceipt_core::digest::constant_time_eq;
use zeroize::Zeroize;

use super::mac::{decrypt, encrypt};

/// Why a key could not be read or unwrapped. Never carries key bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The master key setting is not 32 hex digits.
    #[error("the terminal master key must be 32 hex digits (16 bytes)")]
    MasterKeyFormat,
    /// Field 62 has neither the 24-byte (single-length) nor the 40-byte (double-length) layout.
    #[error("field 62 (working keys) is {0} bytes, expected 24 or 40")]
    Field62Length(usize),
    /// A working key's check value does not match its decrypted key.
    #[error("the {0} check value does not match (wrong master key or corrupted answer)")]
    CheckValue(WorkingKeyName),
}

/// Which working key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkingKeyName {
    /// The PIN key.
    Pik,
    /// The MAC key.
    Mak,
}

impl fmt::Display for WorkingKeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WorkingKeyName::Pik => "PIK",
            WorkingKeyName::Mak => "MAK",
        })
    }
}

/// The terminal master key (TMK): 16 bytes, 2-key 3DES, loaded from settings.
#[derive(Clone)]
pub struct MasterKey([u8; 16]);

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl MasterKey {
    /// The key from its 16 bytes.
    pub fn new(bytes: [u8; 16]) -> Self {
        MasterKey(bytes)
    }

    /// The key from 32 hex digits (as kept in settings).
    pub fn from_hex(hex_key: &str) -> Result<Self, KeyError> {
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(hex_key.trim(), &mut bytes).map_err(|_| KeyError::MasterKeyFormat)?;
        Ok(MasterKey(bytes))
    }

    /// The first 4 bytes of the key enciphering 8 zero bytes (3DES EDE2).
    pub fn check_value(&self) -> [u8; 4] {
        check_value(&self.0)
    }

    fn cipher(&self) -> TdesEde2 {
        TdesEde2::new(&GenericArray::from(self.0))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// The clear working keys from a sign-in: kept in memory only, zeroized on drop.
#[derive(Clone)]
pub struct WorkingKeys {
    pik: Vec<u8>,
    mak: Vec<u8>,
}

impl Drop for WorkingKeys {
    fn drop(&mut self) {
        self.pik.zeroize();
        self.mak.zeroize();
    }
}

impl WorkingKeys {
    /// Unwraps field 62 of an 0810: `PIK_enc + KCV(4) + MAK_enc + KCV(4)`, 24 bytes for 8-byte
    /// keys or 40 for 16-byte keys, each key 3DES-EDE2-ECB under the TMK, check values verified.
    pub fn from_field62(tmk: &MasterKey, field62: &[u8]) -> Result<Self, KeyError> {
        let key_len = match field62.len() {
            24 => 8,
            40 => 16,
            other => return Err(KeyError::Field62Length(other)),
        };
        let cipher = tmk.cipher();
        let (pik_part, mak_part) = field62.split_at(key_len + 4);
        let pik = unwrap_key(&cipher, pik_part, WorkingKeyName::Pik)?;
        let mak = unwrap_key(&cipher, mak_part, WorkingKeyName::Mak)?;
        Ok(WorkingKeys { pik, mak })
    }

    /// The clear PIN key (8 or 16 bytes).
    pub fn pik(&self) -> &[u8] {
        &self.pik
    }

    /// The clear MAC key (8 or 16 bytes): what [`super::mac::compute`] takes.
    pub fn mak(&self) -> &[u8] {
        &self.mak
    }
}

impl fmt::Debug for WorkingKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WorkingKeys {{ pik: <redacted, {} bytes>, mak: <redacted, {} bytes> }}",
            self.pik.len(),
            self.mak.len()
        )
    }
}

/// Decrypts `enc_key + kcv(4)` and checks the check value.
fn unwrap_key(tmk: &TdesEde2, part: &[u8], name: WorkingKeyName) -> Result<Vec<u8>, KeyError> {
    let (enc, kcv) = part.split_at(part.len() - 4);
    let mut key = Vec::with_capacity(enc.len());
    for block in enc.chunks_exact(8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(block);
        key.extend_from_slice(&decrypt(tmk, b));
        b.zeroize();
    }
    if !constant_time_eq(&check_value(&key), kcv) {
        key.zeroize();
        return Err(KeyError::CheckValue(name));
    }
    Ok(key)
}

/// KCV: first 4 bytes of `key` enciphering 8 zero bytes (single DES for 8 bytes, 3DES EDE2 for
/// 16). Other lengths give zeros, which never match a real check value.
pub fn check_value(key: &[u8]) -> [u8; 4] {
    let block = match key.len() {
        8 => Des::new_from_slice(key).map(|c| encrypt(&c, [0; 8])),
        16 => TdesEde2::new_from_slice(key).map(|c| encrypt(&c, [0; 8])),
        _ => Ok([0; 8]),
    }
    .unwrap_or([0; 8]);
    [block[0], block[1], block[2], block[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    const TMK: &str = "0123456789ABCDEFFEDCBA9876543210";

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("hex")
    }

    #[test]
    fn check_values_match_known_answers() {
        // DES(0123456789ABCDEF, 0) = D5D44FF720683D0D: wire.md's D5D44FF7 is the KCV of the
        // single-length key (and of the degenerate double key 0123456789ABCDEF0123456789ABCDEF).
        assert_eq!(hex::encode_upper(check_value(&unhex("0123456789ABCDEF"))), "D5D44FF7");
        assert_eq!(hex::encode_upper(check_value(&unhex("0123456789ABCDEF0123456789ABCDEF"))), "D5D44FF7");
        // The double-length key's KCV is 08D7B4FB (3DES EDE2 of zeros = 08D7B4FB629D0885).
        let tmk = MasterKey::from_hex(TMK).expect("hex");
        assert_eq!(hex::encode_upper(tmk.check_value()), "08D7B4FB");
    }

    // Golden field 62 values computed with `openssl enc -des-ede-ecb` / `-des-ecb` (not by this
    // code): TMK 0123456789ABCDEFFEDCBA9876543210, PIK 11.., MAK 22.. (single) or 11..33.. and
    // 22..44.. (double).
    #[test]
    fn single_length_field62_golden() {
        let f62 = unhex(concat!(
            "9B3A7B883A100F73",
            "82E13665", // PIK 1111111111111111 under the TMK, its KCV
            "B4ABA2BB791C50E7",
            "00962B60", // MAK 2222222222222222, its KCV
        ));
        let keys = WorkingKeys::from_field62(&MasterKey::from_hex(TMK).expect("tmk"), &f62).expect("keys");
        assert_eq!(keys.pik(), &unhex("1111111111111111")[..]);
        assert_eq!(keys.mak(), &unhex("2222222222222222")[..]);
    }

    #[test]
    fn double_length_field62_golden() {
        let f62 = unhex(concat!(
            "9B3A7B883A100F735ADC39F46164960E",
            "92A3295F", // PIK 11..11 33..33
            "B4ABA2BB791C50E717B9F1B1A1B2D33C",
            "3A42D7A1", // MAK 22..22 44..44
        ));
        let keys = WorkingKeys::from_field62(&MasterKey::from_hex(TMK).expect("tmk"), &f62).expect("keys");
        assert_eq!(keys.pik(), &unhex("11111111111111113333333333333333")[..]);
        assert_eq!(keys.mak(), &unhex("22222222222222224444444444444444")[..]);
    }

    #[test]
    fn wrap_then_unwrap_round_trips() {
        let tmk = MasterKey::new([7; 16]);
        let (pik, mak) = (unhex("0123456789ABCDEFFEDCBA9876543210"), unhex("F1E2D3C4B5A69788796A5B4C3D2E1F00"));
        let mut f62 = Vec::new();
        for key in [&pik, &mak] {
            for block in key.chunks(8) {
                f62.extend_from_slice(&encrypt(&tmk.cipher(), block.try_into().expect("8")));
            }
            f62.extend_from_slice(&check_value(key));
        }
        let keys = WorkingKeys::from_field62(&tmk, &f62).expect("keys");
        assert_eq!((keys.pik(), keys.mak()), (&pik[..], &mak[..]));
    }

    #[test]
    fn bad_check_values_and_lengths_are_named() {
        let tmk = MasterKey::from_hex(TMK).expect("tmk");
        let good = unhex("9B3A7B883A100F7382E13665B4ABA2BB791C50E700962B60");
        let mut bad_pik = good.clone();
        bad_pik[8] ^= 1;
        assert_eq!(WorkingKeys::from_field62(&tmk, &bad_pik).err(), Some(KeyError::CheckValue(WorkingKeyName::Pik)));
        let mut bad_mak = good.clone();
        bad_mak[13] ^= 1;
        assert_eq!(WorkingKeys::from_field62(&tmk, &bad_mak).err(), Some(KeyError::CheckValue(WorkingKeyName::Mak)));
        let wrong_tmk = MasterKey::new([0; 16]);
        assert!(WorkingKeys::from_field62(&wrong_tmk, &good).is_err());
        assert_eq!(WorkingKeys::from_field62(&tmk, &good[..23]).err(), Some(KeyError::Field62Length(23)));
        assert_eq!(MasterKey::from_hex("0123").map(|_| ()), Err(KeyError::MasterKeyFormat));
        assert!(KeyError::CheckValue(WorkingKeyName::Mak).to_string().contains("MAK"));
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let tmk = MasterKey::from_hex(TMK).expect("tmk");
        assert_eq!(format!("{tmk:?}"), "MasterKey(<redacted>)");
        let keys =
            WorkingKeys::from_field62(&tmk, &unhex("9B3A7B883A100F7382E13665B4ABA2BB791C50E700962B60")).expect("keys");
        let shown = format!("{keys:?}");
        assert!(!shown.contains("1111") && !shown.contains("2222"), "{shown}");
    }
}
