//! Field 64: the message authentication code over the packed message (MTI..field 63), in the
//! UnionPay POS "ECB" variant, ANSI X9.19 retail MAC or X9.9, on RustCrypto `des`.

use des::cipher::consts::U8;
use des::cipher::generic_array::GenericArray;
use des::cipher::{BlockDecrypt, BlockEncrypt, BlockSizeUser, KeyInit};
use des::Des;
use ereceipt_core::digest::constant_time_eq;

/// Which MAC a host link uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MacAlgorithm {
    /// No MAC: messages carry no field 64.
    None,
    /// UnionPay POS "ECB" MAC: XOR of the blocks, hex-expanded, two DES steps; 8-byte MAK.
    #[default]
    UnionPayEcb,
    /// ANSI X9.19 retail MAC (ISO 9797-1 algorithm 3): 16-byte MAK K1|K2.
    X919,
    /// ANSI X9.9: CBC-DES, IV 0, last block; 8-byte MAK.
    X99,
}

impl MacAlgorithm {
    /// The MAK length the algorithm needs (0 for `None`).
    pub fn key_len(self) -> usize {
        match self {
            MacAlgorithm::None => 0,
            MacAlgorithm::UnionPayEcb | MacAlgorithm::X99 => 8,
            MacAlgorithm::X919 => 16,
        }
    }
}

/// Why a MAC could not be computed or did not verify. Never carries key or MAC bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MacError {
    /// The MAK has the wrong length for the algorithm.
    #[error("{algorithm:?} needs a {need}-byte MAK, got {got} bytes")]
    KeyLength {
        /// The algorithm.
        algorithm: MacAlgorithm,
        /// Bytes it needs.
        need: usize,
        /// Bytes given.
        got: usize,
    },
    /// Asked to compute or verify with [`MacAlgorithm::None`].
    #[error("MAC is disabled for this link")]
    Disabled,
    /// The packed message does not announce field 64 (bit 64 unset or too short).
    #[error("the message has no field 64 to fill")]
    NoMacField,
    /// The MAC does not match.
    #[error("MAC mismatch")]
    Mismatch,
}

/// The MAC of `mab` (see [`mab`]) under `key`.
pub fn compute(algorithm: MacAlgorithm, key: &[u8], mab: &[u8]) -> Result<[u8; 8], MacError> {
    let need = algorithm.key_len();
    // Checked before the key length: `None` needs no key, and `key[..8]` below must exist.
    if algorithm == MacAlgorithm::None {
        return Err(MacError::Disabled);
    }
    if key.len() != need {
        return Err(MacError::KeyLength { algorithm, need, got: key.len() });
    }
    let k1 = des(&key[..8]);
    Ok(match algorithm {
        MacAlgorithm::None => return Err(MacError::Disabled),
        MacAlgorithm::UnionPayEcb => {
            let r = blocks(mab).fold([0u8; 8], xor);
            let hex = hex_upper(r);
            let (h1, h2) = split16(hex);
            let e1 = encrypt(&k1, h1);
            let e2 = encrypt(&k1, xor(e1, h2));
            split16(hex_upper(e2)).0
        }
        MacAlgorithm::X99 => cbc(&k1, mab),
        MacAlgorithm::X919 => {
            let k2 = des(&key[8..]);
            encrypt(&k1, decrypt(&k2, cbc(&k1, mab)))
        }
    })
}

/// Checks `mac` against the MAC of `mab`, comparing in constant time.
pub fn verify(algorithm: MacAlgorithm, key: &[u8], mab: &[u8], mac: &[u8]) -> Result<(), MacError> {
    let expected = compute(algorithm, key, mab)?;
    if constant_time_eq(&expected, mac) {
        Ok(())
    } else {
        Err(MacError::Mismatch)
    }
}

/// The MAC input of a packed message body (from the MTI on): all but the last 8 bytes when
/// bit 64 is set, else the whole body.
pub fn mab(packed: &[u8]) -> &[u8] {
    match carries_mac(packed) {
        true => &packed[..packed.len() - 8],
        false => packed,
    }
}

/// Writes the MAC into the last 8 bytes of a message packed with a placeholder field 64.
pub fn seal(algorithm: MacAlgorithm, key: &[u8], packed: &mut [u8]) -> Result<(), MacError> {
    if !carries_mac(packed) {
        return Err(MacError::NoMacField);
    }
    let mac = compute(algorithm, key, mab(packed))?;
    let at = packed.len() - 8;
    packed[at..].copy_from_slice(&mac);
    Ok(())
}

fn carries_mac(packed: &[u8]) -> bool {
    // MTI (2) + bitmap (8) + at least field 64 (8); bit 64 is the last bit of the bitmap.
    packed.len() >= 18 && packed[9] & 0x01 != 0
}

/// A DES cipher from an 8-byte key slice (callers check the length).
fn des(key: &[u8]) -> Des {
    let mut k = [0u8; 8];
    k.copy_from_slice(&key[..8]);
    Des::new(&GenericArray::from(k))
}

/// One block encrypted under a DES or 3DES cipher.
pub(super) fn encrypt<C: BlockEncrypt + BlockSizeUser<BlockSize = U8>>(c: &C, block: [u8; 8]) -> [u8; 8] {
    let mut b = GenericArray::from(block);
    c.encrypt_block(&mut b);
    b.into()
}

/// One block decrypted under a DES or 3DES cipher.
pub(super) fn decrypt<C: BlockDecrypt + BlockSizeUser<BlockSize = U8>>(c: &C, block: [u8; 8]) -> [u8; 8] {
    let mut b = GenericArray::from(block);
    c.decrypt_block(&mut b);
    b.into()
}

/// The 8-byte blocks of `data`, the last one zero-padded; an empty input is one zero block.
fn blocks(data: &[u8]) -> impl Iterator<Item = [u8; 8]> + '_ {
    let empty = data.is_empty().then_some([0u8; 8]);
    data.chunks(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            b
        })
        .chain(empty)
}

fn cbc(c: &Des, data: &[u8]) -> [u8; 8] {
    blocks(data).fold([0u8; 8], |acc, b| encrypt(c, xor(acc, b)))
}

fn xor(a: [u8; 8], b: [u8; 8]) -> [u8; 8] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

fn hex_upper(b: [u8; 8]) -> [u8; 16] {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    std::array::from_fn(|i| HEX[usize::from(if i % 2 == 0 { b[i / 2] >> 4 } else { b[i / 2] & 0xF })])
}

fn split16(h: [u8; 16]) -> ([u8; 8], [u8; 8]) {
    (std::array::from_fn(|i| h[i]), std::array::from_fn(|i| h[8 + i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("hex")
    }

    // The wire profile's golden MAB: a 26-byte 0200 fragment, so the last block is padded.
    const MAB: &str = "0200302004C020C0981100000000000000012800000001021000";
    const K8: &str = "0123456789ABCDEF";
    const K16: &str = "0123456789ABCDEFFEDCBA9876543210";

    #[test]
    fn des_known_answer() {
        // FIPS 81 / the classic "Now is t" vector.
        let c = des(&unhex(K8));
        let out = encrypt(&c, unhex("4E6F772069732074").try_into().expect("8"));
        assert_eq!(hex::encode_upper(out), "3FA40E8A984D4815");
        assert_eq!(hex::encode_upper(decrypt(&c, out)), "4E6F772069732074");
    }

    #[test]
    fn unionpay_ecb_golden() {
        // wire.md (pycryptodome) and an openssl re-computation agree on ASCII "FEA01EAE".
        let mac = compute(MacAlgorithm::UnionPayEcb, &unhex(K8), &unhex(MAB)).expect("mac");
        assert_eq!(&mac, b"FEA01EAE");
    }

    #[test]
    fn x919_golden() {
        let mac = compute(MacAlgorithm::X919, &unhex(K16), &unhex(MAB)).expect("mac");
        assert_eq!(hex::encode_upper(mac), "95133FAFE9EEE7FC");
    }

    #[test]
    fn x99_golden() {
        // Computed with `openssl enc -des-ecb` block by block (CBC by hand), not by this code.
        let mac = compute(MacAlgorithm::X99, &unhex(K8), &unhex(MAB)).expect("mac");
        assert_eq!(hex::encode_upper(mac), "BA6DDCBBC1A75758");
    }

    #[test]
    fn x919_with_equal_halves_is_x99() {
        let k = unhex("0123456789ABCDEF0123456789ABCDEF");
        let mab = unhex(MAB);
        assert_eq!(
            compute(MacAlgorithm::X919, &k, &mab).expect("919"),
            compute(MacAlgorithm::X99, &k[..8], &mab).expect("99")
        );
    }

    #[test]
    fn key_lengths_and_disabled_are_checked() {
        let mab = unhex(MAB);
        assert_eq!(
            compute(MacAlgorithm::UnionPayEcb, &unhex(K16), &mab),
            Err(MacError::KeyLength { algorithm: MacAlgorithm::UnionPayEcb, need: 8, got: 16 })
        );
        assert!(matches!(compute(MacAlgorithm::X919, &unhex(K8), &mab), Err(MacError::KeyLength { need: 16, .. })));
        assert!(matches!(compute(MacAlgorithm::X99, &[0; 7], &mab), Err(MacError::KeyLength { need: 8, .. })));
        assert_eq!(compute(MacAlgorithm::None, &[], &mab), Err(MacError::Disabled));
    }

    #[test]
    fn verify_accepts_the_mac_and_refuses_any_other() {
        let (k, mab) = (unhex(K8), unhex(MAB));
        assert_eq!(verify(MacAlgorithm::UnionPayEcb, &k, &mab, b"FEA01EAE"), Ok(()));
        assert_eq!(verify(MacAlgorithm::UnionPayEcb, &k, &mab, b"FEA01EAF"), Err(MacError::Mismatch));
        assert_eq!(verify(MacAlgorithm::UnionPayEcb, &k, &mab, b"FEA01EA"), Err(MacError::Mismatch));
    }

    #[test]
    fn mab_drops_field_64_only_when_bit_64_is_set_and_seal_fills_it() {
        // 0800 with bitmap bit 64 clear: the whole body is the MAB.
        let no_mac = unhex("08000020000000C00012");
        assert_eq!(mab(&no_mac), &no_mac[..]);
        // MTI + bitmap with only bit 64 + placeholder MAC.
        let mut msg = unhex("02000000000000000001");
        msg.extend_from_slice(&[0; 8]);
        assert_eq!(mab(&msg), &msg[..10]);
        let k = unhex(K8);
        seal(MacAlgorithm::X99, &k, &mut msg).expect("sealed");
        let expected = compute(MacAlgorithm::X99, &k, &msg[..10]).expect("mac");
        assert_eq!(&msg[10..], &expected);
        let mut short = no_mac.clone();
        assert_eq!(seal(MacAlgorithm::X99, &k, &mut short), Err(MacError::NoMacField));
    }
}
