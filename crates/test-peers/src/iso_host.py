"""An independent ISO 8583 acquirer host for the terminal's tests (wire profile "unionpay").

Decodes and encodes with PyPI pyiso8583 (a spec dict written from the profile's field table,
never from the Rust codec) and does DES/3DES with pycryptodome. Binds 127.0.0.1, prints
`LISTENING <port>` once bound, then serves many connections, several messages on each.

Sign-in (0800) hands out working keys (PIK, MAK) under the TMK in field 62 with check values.
Sales and pre-auths (0200/0100) are answered by the cents of field 4 (the scenarios of the
profile: decline codes, 98 silent, 97 drop, 96 late, 95 garbage, 94 no 39, 93 bad MAC), and
all are kept in a ledger by terminal id (41), batch (60.2) and trace (11) that reversals
(0400) look up. A bad or missing request MAC, or no key for the terminal, is answered 39 = A0
without field 64.

With --journal FILE each message in and out and each framing or decode error is one JSON line.
Card data (fields 2, 35, 36, 52, 55) and key material (62) are never written, only lengths;
the PAN appears as its last four digits.
"""

import argparse
import asyncio
import datetime
import json
import os
import struct
import sys

import iso8583
from Crypto.Cipher import DES

MAX_FRAME = 4096
DEFAULT_MAC_MTIS = "0100,0110,0200,0210,0220,0230,0400,0410"
DECLINES = {"01", "03", "04", "05", "12", "13", "14", "22", "25", "30", "33", "41", "43", "51",
            "54", "55", "61", "77"}
FAULTS = {"98": "silent", "97": "drop", "96": "late", "95": "garbage", "94": "no-39",
          "93": "bad-mac"}
SENSITIVE = ("2", "35", "36", "52", "55", "62")
JOURNALLED = ("3", "4", "11", "12", "13", "15", "22", "25", "37", "38", "39", "41", "42", "49",
              "60", "61", "63")


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


# --- The host -------------------------------------------------------------------------------

class Journal:
    def __init__(self, path):
        self.file = open(path, "a", encoding="utf-8") if path else None

    def write(self, **line):
        if self.file:
            line = {k: v for k, v in line.items() if v is not None}
            line["ts"] = datetime.datetime.now().isoformat(timespec="milliseconds")
            self.file.write(json.dumps(line, sort_keys=True) + "\n")
            self.file.flush()


def describe(doc):
    """The journal's view of a decoded message: safe fields, lengths of the others, PAN last 4."""
    out = {"mti": doc.get("t")}
    for f in JOURNALLED:
        if f in doc:
            out[f] = doc[f]
    # Digits for the n/z fields (2, 35, 36), bytes for the binary ones (52, 55, 62).
    lengths = {f: len(doc[f]) if "len_count" in SPEC[f] else len(doc[f]) // 2
               for f in SENSITIVE if f in doc}
    if lengths:
        out["lengths"] = lengths
    pan = doc.get("2") or doc.get("35", "").split("D")[0]
    if pan:
        out["pan_last4"] = pan[-4:]
    return out


class Host:
    def __init__(self, opts):
        self.opts = opts
        self.journal = Journal(opts.journal)
        self.tmk = bytes.fromhex(opts.tmk)
        self.mak = bytes.fromhex(opts.mak) if opts.mak else None
        self.app_header_len = len(bytes.fromhex(opts.app_header))
        self.mac_mtis = {m for m in opts.mac_mtis.split(",") if m}
        self.keys = {}  # terminal id -> MAK
        self.ledger = {}  # (41, 60.2, 11) -> record
        self.reversals_seen = 0
        self.connections = 0
        self.rrn = 0

    # Framing

    async def read_frame(self, reader, conn):
        width = 4 if self.opts.length_header == "ascii" else 2
        try:
            head = await reader.readexactly(width)
        except asyncio.IncompleteReadError as e:
            if e.partial:
                self.journal.write(dir="error", conn=conn, error="truncated length header")
            return None
        if width == 4:
            if not head.isdigit():
                self.journal.write(dir="error", conn=conn, error="length header not digits")
                return None
            length = int(head)
        else:
            length = struct.unpack(">H", head)[0]
        if length > MAX_FRAME:
            self.journal.write(dir="error", conn=conn, error="frame too long", length=length)
            return None
        try:
            return await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            self.journal.write(dir="error", conn=conn, error="truncated frame", length=length)
            return None

    def frame(self, body):
        if self.opts.length_header == "ascii":
            return b"%04d" % len(body) + body
        return struct.pack(">H", len(body)) + body

    def split(self, frame):
        """TPDU, app header, decoded message, raw message (MTI onwards)."""
        prefix = 5 + self.app_header_len
        if len(frame) < prefix or frame[0] != 0x60:
            raise FrameError("tpdu", "frame does not start with a TPDU (60 ...)")
        tpdu, header, raw = frame[:5], frame[5:prefix], frame[prefix:]
        if len(raw) >= 3 and raw[2] & 0x80:
            raise FrameError("1", "secondary bitmap (bit 1) is not allowed")
        if len(raw) >= 10:
            bitmap = int.from_bytes(raw[2:10], "big")
            for bit in range(2, 65):
                if bitmap >> (64 - bit) & 1 and str(bit) not in SPEC:
                    raise FrameError(str(bit), "field not in the profile")
        try:
            doc, _ = iso8583.decode(raw, SPEC)
        except iso8583.DecodeError as e:
            raise FrameError(e.field, e.msg) from None
        if not doc["t"].isdigit():
            raise FrameError("t", "MTI is not BCD")
        for f, v in doc.items():
            if f in NUMERIC and not v.isdigit():
                raise FrameError(f, "non-decimal digit in a numeric field")
            if f in TRACKS and not all(c in "0123456789D" for c in v):
                raise FrameError(f, "track data holds a nibble other than 0-9 or D")
        return tpdu, header, doc, raw

    # MAC

    def mac(self, key, mab):
        return mac_x919(key, mab) if self.opts.mac == "x919" else mac_ecb(key, mab)

    def key_for(self, tid):
        """The terminal's MAK from its sign-in; without --require-sign-in, else the forced --mak."""
        if tid in self.keys:
            return self.keys[tid]
        return None if self.opts.require_sign_in else self.mak

    def refusal(self, doc, mac):
        """The scenario name when a financial request is answered A0, else None."""
        if self.opts.require_sign_in and doc.get("41") not in self.keys:
            return "not-signed-in"
        if mac not in ("ok", "none-required"):
            return "bad-request-mac"
        return None

    def check_mac(self, doc, raw):
        """ok / bad / absent / no-key / none-required for a request (no-key: nothing to check with)."""
        if self.opts.mac == "none" or doc["t"] not in self.mac_mtis:
            return "none-required"
        key = self.key_for(doc.get("41"))
        if key is None:
            return "no-key"
        if "64" not in doc:
            return "absent"
        return "ok" if self.mac(key, raw[:-8]) == raw[-8:] else "bad"

    def encode(self, doc, key, corrupt=False):
        """The answer's bytes from the MTI on; with a MAC when its MTI carries one and a key is known."""
        doc = {k: v for k, v in doc.items() if v is not None}
        needs = self.opts.mac != "none" and doc["t"] in self.mac_mtis
        if needs and key is not None and doc.get("39") != "A0":
            doc["64"] = "00" * 8
            raw, _ = iso8583.encode(doc, SPEC)
            mac = self.mac(key, bytes(raw[:-8]))
            if corrupt:
                mac = bytes([mac[0] ^ 0xFF]) + mac[1:]
            doc["64"] = mac.hex().upper()
            return bytes(raw[:-8]) + mac, doc, "bad" if corrupt else "ok"
        doc.pop("64", None)
        raw, _ = iso8583.encode(doc, SPEC)
        return bytes(raw), doc, "absent" if needs else "none-required"

    # Messages

    def next_rrn(self):
        self.rrn += 1
        return datetime.datetime.now().strftime("%H%M%S") + "%06d" % (self.rrn % 1000000)

    def sign_in(self, doc):
        field60 = doc.get("60", "")
        batch = "%06d" % self.opts.batch if self.opts.batch is not None else field60[2:8]
        code = field60[8:11]
        now = datetime.datetime.now()
        answer = {"t": "0810", "11": doc.get("11"), "12": now.strftime("%H%M%S"),
                  "13": now.strftime("%m%d"), "32": "00010000", "37": self.next_rrn(),
                  "41": doc.get("41"), "42": doc.get("42"), "60": "00" + batch + code}
        length = {"001": 8, "003": 16}.get(code)
        wanted = {"ecb": 8, "x919": 16}.get(self.opts.mac, length)
        if length is None or length != wanted or (self.mak and len(self.mak) != length):
            answer["39"] = "30"
            return answer, "sign-in refused"
        mak = self.mak or odd_parity(os.urandom(length))
        pik = odd_parity(os.urandom(length))
        self.keys[doc.get("41")] = mak
        answer["39"] = "00"
        answer["62"] = (tdes_enc(self.tmk, pik) + kcv(pik) + tdes_enc(self.tmk, mak)
                        + kcv(mak)).hex().upper()
        return answer, "sign-in"

    def answer_fields(self, doc, mti):
        now = datetime.datetime.now()
        return {"t": mti, "3": doc.get("3"), "4": doc.get("4"), "11": doc.get("11"),
                "12": doc.get("12", now.strftime("%H%M%S")), "13": doc.get("13", now.strftime("%m%d")),
                "15": now.strftime("%m%d"), "25": doc.get("25"), "32": "00010000",
                "37": self.next_rrn(), "41": doc.get("41"), "42": doc.get("42"), "49": doc.get("49"),
                "60": doc.get("60")}

    def ledger_key(self, doc):
        return (doc.get("41"), doc.get("60", "")[2:8], doc.get("11"))

    def financial(self, doc, mac):
        """(answer, scenario, ledger note); answer None for the faults that send nothing."""
        answer = self.answer_fields(doc, "%04d" % (int(doc["t"]) + 10))
        cents = doc.get("4", "00")[-2:]
        scenario = "decline" if cents in DECLINES else FAULTS.get(cents, "approve")
        record = {"amount": doc.get("4"), "scenario": scenario, "mac": mac, "reversed": False,
                  "38": None}
        self.ledger[self.ledger_key(doc)] = record
        refused = self.refusal(doc, mac)
        if refused:
            answer["39"] = "A0"
            return answer, refused, "recorded"
        if scenario == "decline":
            answer["39"] = cents
        else:
            answer["39"] = "00"
            answer["38"] = "%06d" % (int.from_bytes(os.urandom(3), "big") % 1000000)
            record["38"] = answer["38"]
        answer["63"] = "CUP"
        if scenario == "no-39":
            del answer["39"]
        return answer, scenario, "recorded"

    def reversal(self, doc, mac):
        answer = self.answer_fields(doc, "0410")
        refused = self.refusal(doc, mac)
        if refused:
            answer["39"] = "A0"
            return answer, refused, None
        record = self.ledger.get(self.ledger_key(doc))
        if record is None:
            answer["39"] = "25"
            return answer, "reversal", "no-original"
        note = "already-reversed" if record["reversed"] else "reversed"
        record["reversed"] = True
        answer["39"] = "00"
        return answer, "reversal", note

    # Connections

    async def serve(self, reader, writer):
        self.connections += 1
        conn = self.connections
        lock = asyncio.Lock()
        try:
            while True:
                frame = await self.read_frame(reader, conn)
                if frame is None:
                    break
                try:
                    tpdu, header, doc, raw = self.split(frame)
                except FrameError as e:
                    mti = frame[5 + self.app_header_len:][:2].hex() or None
                    self.journal.write(dir="error", conn=conn, error="decode", field=e.field,
                                       reason=e.reason, length=len(frame), mti=mti)
                    break
                if not await self.handle(conn, tpdu, header, doc, raw, writer, lock):
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def handle(self, conn, tpdu, header, doc, raw, writer, lock):
        """Answers one message; False when the connection is to be closed."""
        mac = self.check_mac(doc, raw)
        mti, ledger, delay, corrupt = doc["t"], None, 0, False
        if mti == "0800":
            answer, scenario = self.sign_in(doc)
        elif mti in ("0100", "0200"):
            answer, scenario, ledger = self.financial(doc, mac)
        elif mti == "0400" and self.reversals_seen < self.opts.silent_reversals:
            self.reversals_seen += 1
            answer, scenario = None, "silent-reversal"
        elif mti == "0400":
            self.reversals_seen += 1
            answer, scenario, ledger = self.reversal(doc, mac)
        else:
            answer = {"t": "%04d" % (int(mti) + 10), "11": doc.get("11"), "39": "40",
                      "41": doc.get("41"), "42": doc.get("42")}
            scenario = "unsupported"
        self.journal.write(dir="in", conn=conn, mac=mac, scenario=scenario, ledger=ledger,
                           **describe(doc))
        if scenario == "drop":
            return False
        if answer is None or scenario == "silent":
            return True
        if scenario == "late":
            delay = self.opts.delay_ms / 1000
        corrupt = scenario == "bad-mac"
        key = self.key_for(doc.get("41"))
        body, sent, mac_out = self.encode(answer, key, corrupt)
        prefix = b"\x60" + tpdu[3:5] + tpdu[1:3] + header
        if scenario == "garbage":
            body = b"\xEE" + os.urandom(31)
        out = self.frame(prefix + body)

        async def send():
            if delay:
                await asyncio.sleep(delay)
            # A late answer may find the client gone; the line says so rather than vanish.
            gone = True if writer.is_closing() else None
            self.journal.write(dir="out", conn=conn, mac=mac_out, scenario=scenario, undelivered=gone,
                               **(describe(sent) if scenario != "garbage" else {"mti": None}))
            if gone:
                return
            async with lock:
                try:
                    writer.write(out)
                    await writer.drain()
                except (ConnectionError, OSError):
                    pass

        if delay:
            asyncio.get_running_loop().create_task(send())
        else:
            await send()
        return True


def options(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--journal", help="JSON lines file, appended to")
    p.add_argument("--tmk", default="0123456789ABCDEFFEDCBA9876543210")
    p.add_argument("--mak", help="force the working MAK (hex, 8 or 16 bytes); PIK stays random")
    p.add_argument("--mac", choices=("ecb", "x919", "none"), default="ecb")
    p.add_argument("--mac-mtis", default=DEFAULT_MAC_MTIS)
    p.add_argument("--delay-ms", type=int, default=5000, help="scenario 96's delay")
    p.add_argument("--silent-reversals", type=int, default=0, metavar="N")
    p.add_argument("--batch", type=int, help="force 60.2 in the 0810")
    p.add_argument("--app-header", default="603100310000", help='hex; "" for none')
    p.add_argument("--length-header", choices=("binary", "ascii"), default="binary")
    p.add_argument("--require-sign-in", action=argparse.BooleanOptionalAction, default=True,
                   help="refuse (39 = A0) financial messages from a terminal with no key from a "
                        "sign-in; --no-require-sign-in lets a forced --mak stand in")
    opts = p.parse_args(argv)
    if len(bytes.fromhex(opts.tmk)) != 16:
        p.error("--tmk must be 16 bytes")
    if opts.mak and len(bytes.fromhex(opts.mak)) not in (8, 16):
        p.error("--mak must be 8 or 16 bytes")
    return opts


async def main(argv):
    host = Host(options(argv))
    server = await asyncio.start_server(host.serve, "127.0.0.1", host.opts.port)
    print("LISTENING %d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1:]))
    except KeyboardInterrupt:
        pass
