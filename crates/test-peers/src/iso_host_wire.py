"""The test host's side of the wire profile "unionpay": its field table in PyPI pyiso8583's
terms and its DES / 3DES / MACs on pycryptodome, written from the profile, never from Rust.
"""

from Crypto.Cipher import DES


def _n(length, pad=None, var=0):
    """A numeric (BCD) field: `length` digits, a BCD length prefix of `var` bytes counting digits."""
    spec = {"data_enc": "b", "len_enc": "bcd", "len_type": var, "max_len": length,
            "len_count": "nibbles"}
    if pad == "left":
        spec["left_pad"] = "0"
    elif pad is not None:
        spec["right_pad"] = pad
    return spec


def _text(length, var=0):
    """An an/ans field: ASCII, a BCD length prefix of `var` bytes counting bytes."""
    return {"data_enc": "ascii", "len_enc": "bcd", "len_type": var, "max_len": length}


def _binary(length, var=0):
    """A b field (hex string in pyiso8583), a BCD length prefix of `var` bytes counting bytes."""
    return {"data_enc": "b", "len_enc": "bcd", "len_type": var, "max_len": length}


# The profile's field table (wire.md "Field formats"), in pyiso8583's terms: len_type is the
# number of prefix bytes (LL = 1 BCD byte, LLL = 2), n/z lengths count nibbles.
SPEC = {
    "h": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 0},
    "t": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 2},
    "p": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 8},
    "2": _n(19, "F", 1),
    "3": _n(6),
    "4": _n(12),
    "11": _n(6),
    "12": _n(6),
    "13": _n(4),
    "14": _n(4),
    "15": _n(4),
    "22": _n(3, "0"),
    "23": _n(3, "left"),
    "25": _n(2),
    "26": _n(2),
    "32": _n(11, "0", 1),
    "35": _n(37, "0", 1),
    "36": _n(104, "0", 2),
    "37": _text(12),
    "38": _text(6),
    "39": _text(2),
    "41": _text(8),
    "42": _text(15),
    "44": _text(25, 1),
    "48": _n(322, "0", 2),
    "49": _text(3),
    "52": _binary(8),
    "53": _n(16),
    "55": _binary(255, 2),
    "60": _n(17, "0", 2),
    "61": _n(29, "0", 2),
    "62": _binary(512, 2),
    "63": _text(163, 2),
    "64": _binary(8),
}
# Fields whose decoded hex must be decimal digits (z fields also allow D, the '=' separator).
NUMERIC = {k for k, v in SPEC.items() if v.get("len_count") == "nibbles"} - {"35", "36"}
TRACKS = {"35", "36"}


class FrameError(Exception):
    """The message could not be read; `field` names where (pyiso8583's field key or ours)."""

    def __init__(self, field, reason):
        super().__init__(f"{reason}: field {field}")
        self.field = field
        self.reason = reason


# --- DES, 3DES (2-key EDE) and the two MACs, from the profile's steps -------------------------

def des_enc(key, block):
    return DES.new(key, DES.MODE_ECB).encrypt(block)


def des_dec(key, block):
    return DES.new(key, DES.MODE_ECB).decrypt(block)


def tdes_enc(key16, data):
    # EDE by hand: pycryptodome's DES3 refuses K1 == K2, which a forced test key may be.
    k1, k2 = key16[:8], key16[8:16]
    return b"".join(des_enc(k1, des_dec(k2, des_enc(k1, data[i:i + 8])))
                    for i in range(0, len(data), 8))


def encipher(key, data):
    return des_enc(key, data) if len(key) == 8 else tdes_enc(key, data)


def kcv(key):
    return encipher(key, bytes(8))[:4]


def _zero_pad(data):
    return data + bytes(-len(data) % 8)


def _xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def mac_ecb(mak, mab):
    r = bytes(8)
    padded = _zero_pad(mab)
    for i in range(0, len(padded), 8):
        r = _xor(r, padded[i:i + 8])
    hexed = r.hex().upper().encode()
    e1 = des_enc(mak[:8], hexed[:8])
    e2 = des_enc(mak[:8], _xor(e1, hexed[8:]))
    return e2.hex().upper().encode()[:8]


def mac_x919(mak, mab):
    k1, k2 = mak[:8], mak[8:16]
    c = bytes(8)
    padded = _zero_pad(mab)
    for i in range(0, len(padded), 8):
        c = des_enc(k1, _xor(c, padded[i:i + 8]))
    return des_enc(k1, des_dec(k2, c))


def odd_parity(key):
    return bytes((b & 0xFE) | (1 - bin(b & 0xFE).count("1") % 2) for b in key)
