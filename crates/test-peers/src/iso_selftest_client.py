"""The self-test's own client for iso_host.py: DES in pure Python (FIPS 46-3), the two MACs,
BCD packing with struct/bytes and an answer parser, none of it shared with the host it checks.
"""

import asyncio
import functools
import json
import os
import re
import struct
import sys

HOST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "iso_host.py")
TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
CHECKS = []

# --- DES from FIPS 46-3, by hand --------------------------------------------------------------

IP = [58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6,
      64, 56, 48, 40, 32, 24, 16, 8, 57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
      61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7]
FP = [IP.index(i) + 1 for i in range(1, 65)]
E = [32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17, 16, 17, 18,
     19, 20, 21, 20, 21, 22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1]
P = [16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19,
     13, 30, 6, 22, 11, 4, 25]
PC1 = [57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3,
       60, 52, 44, 36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45,
       37, 29, 21, 13, 5, 28, 20, 12, 4]
PC2 = [14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, 41,
       52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32]
SHIFTS = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1]
SBOX = [[int(x) for x in row.split()] for row in """
14 4 13 1 2 15 11 8 3 10 6 12 5 9 0 7 0 15 7 4 14 2 13 1 10 6 12 11 9 5 3 8 4 1 14 8 13 6 2 11 15 12 9 7 3 10 5 0 15 12 8 2 4 9 1 7 5 11 3 14 10 0 6 13
15 1 8 14 6 11 3 4 9 7 2 13 12 0 5 10 3 13 4 7 15 2 8 14 12 0 1 10 6 9 11 5 0 14 7 11 10 4 13 1 5 8 12 6 9 3 2 15 13 8 10 1 3 15 4 2 11 6 7 12 0 5 14 9
10 0 9 14 6 3 15 5 1 13 12 7 11 4 2 8 13 7 0 9 3 4 6 10 2 8 5 14 12 11 15 1 13 6 4 9 8 15 3 0 11 1 2 12 5 10 14 7 1 10 13 0 6 9 8 7 4 15 14 3 11 5 2 12
7 13 14 3 0 6 9 10 1 2 8 5 11 12 4 15 13 8 11 5 6 15 0 3 4 7 2 12 1 10 14 9 10 6 9 0 12 11 7 13 15 1 3 14 5 2 8 4 3 15 0 6 10 1 13 8 9 4 5 11 12 7 2 14
2 12 4 1 7 10 11 6 8 5 3 15 13 0 14 9 14 11 2 12 4 7 13 1 5 0 15 10 3 9 8 6 4 2 1 11 10 13 7 8 15 9 12 5 6 3 0 14 11 8 12 7 1 14 2 13 6 15 0 9 10 4 5 3
12 1 10 15 9 2 6 8 0 13 3 4 14 7 5 11 10 15 4 2 7 12 9 5 6 1 13 14 0 11 3 8 9 14 15 5 2 8 12 3 7 0 4 10 1 13 11 6 4 3 2 12 9 5 15 10 11 14 1 7 6 0 8 13
4 11 2 14 15 0 8 13 3 12 9 7 5 10 6 1 13 0 11 7 4 9 1 10 14 3 5 12 2 15 8 6 1 4 11 13 12 3 7 14 10 15 6 8 0 5 9 2 6 11 13 8 1 4 10 7 9 5 0 15 14 2 3 12
13 2 8 4 6 15 11 1 10 9 3 14 5 0 12 7 1 15 13 8 10 3 7 4 12 5 6 11 0 14 9 2 7 11 4 1 9 12 14 2 0 6 10 13 15 3 5 8 2 1 14 7 4 10 8 13 15 12 9 0 3 5 6 11
""".strip().splitlines()]


def permute_bits(value, table, width):
    """Output bit i is input bit table[i] (bits numbered from 1 at the most significant)."""
    return sum(((value >> (width - t)) & 1) << (len(table) - 1 - i) for i, t in enumerate(table))


PERMUTE_BYTES = {}  # (id(table), width) -> per input byte, the output of each of its 256 values


def permute(value, table, width):
    """permute_bits by byte lookups: a permutation is linear, so the bytes' outputs OR together
    (the several hundred MACs of a run would otherwise cost a second of pure Python)."""
    tables = PERMUTE_BYTES.get((id(table), width))
    if tables is None:
        tables = []
        for i in range(width // 8):
            shift = width - 8 * (i + 1)
            bits = [permute_bits(1 << (shift + b), table, width) for b in range(8)]
            lookup = [0] * 256
            for v in range(1, 256):
                low = (v & -v).bit_length() - 1
                lookup[v] = lookup[v & (v - 1)] | bits[low]
            tables.append(lookup)
        PERMUTE_BYTES[(id(table), width)] = tables
    out = 0
    for i, lookup in enumerate(tables):
        out |= lookup[(value >> (width - 8 * (i + 1))) & 0xFF]
    return out


@functools.lru_cache(maxsize=64)
def subkeys(key):
    cd = permute(int.from_bytes(key, "big"), PC1, 64)
    c, d, out = cd >> 28, cd & 0xFFFFFFF, []
    for s in SHIFTS:
        c = ((c << s) | (c >> (28 - s))) & 0xFFFFFFF
        d = ((d << s) | (d >> (28 - s))) & 0xFFFFFFF
        out.append(permute((c << 28) | d, PC2, 56))
    return tuple(out)


def des(key, block, decrypt=False):
    ks = subkeys(key)[::-1] if decrypt else subkeys(key)
    v = permute(int.from_bytes(block, "big"), IP, 64)
    left, right = v >> 32, v & 0xFFFFFFFF
    for k in ks:
        x = permute(right, E, 32) ^ k
        s = 0
        for i in range(8):
            six = (x >> (42 - 6 * i)) & 0x3F
            s = (s << 4) | SBOX[i][(((six & 0x20) >> 4) | (six & 1)) * 16 + ((six >> 1) & 0xF)]
        left, right = right, left ^ permute(s, P, 32)
    return permute((right << 32) | left, FP, 64).to_bytes(8, "big")


def tdes(key16, data, decrypt=False):
    k1, k2 = key16[:8], key16[8:]
    out = b""
    for i in range(0, len(data), 8):
        b = data[i:i + 8]
        if decrypt:
            out += des(k1, des(k2, des(k1, b, True)), True)
        else:
            out += des(k1, des(k2, des(k1, b), True))
    return out


def xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def pad8(data):
    return data + b"\0" * (-len(data) % 8)


def mac_ecb(key, mab):
    r = bytes(8)
    data = pad8(mab)
    for i in range(0, len(data), 8):
        r = xor(r, data[i:i + 8])
    h = r.hex().upper().encode()
    return des(key, xor(des(key, h[:8]), h[8:])).hex().upper().encode()[:8]


def mac_x919(key, mab):
    c = bytes(8)
    data = pad8(mab)
    for i in range(0, len(data), 8):
        c = des(key[:8], xor(c, data[i:i + 8]))
    return des(key[:8], des(key[8:], c, True))


def kcv(key):
    return (des(key, bytes(8)) if len(key) == 8 else tdes(key, bytes(8)))[:4]


# --- Messages by hand --------------------------------------------------------------------------

def bcd(digits, pad="0"):
    """Packed decimal, left-aligned, odd length right-padded with `pad`."""
    return bytes.fromhex(digits + (pad if len(digits) % 2 else ""))


def ll(digits, count):
    return bytes.fromhex("%02d" % count) + digits


def lll(data, count):
    return bytes.fromhex("%04d" % count) + data


def pack(mti, fields, mac_key=None, mac_fn=mac_ecb):
    """MTI + bitmap + the given {number: encoded bytes}; with field 64 computed when a key is given."""
    numbers = sorted(fields) + ([64] if mac_key else [])
    bitmap = 0
    for n in numbers:
        bitmap |= 1 << (64 - n)
    body = bytes.fromhex(mti) + struct.pack(">Q", bitmap) + b"".join(fields[n] for n in sorted(fields))
    if mac_key:
        body += mac_fn(mac_key, body)
    return body


def frame(body, tpdu=b"\x60\x00\x03\x00\x00", header=bytes.fromhex("603100310000"), ascii_len=False):
    data = tpdu + header + body
    return (b"%04d" % len(data) if ascii_len else struct.pack(">H", len(data))) + data


def sale_fields(tid, trace, amount, batch="000001", pan=None, pin_block=None):
    track = "6222020200112233445D49121011234567890"
    f = {3: bcd("000000"), 4: bcd("%012d" % amount), 11: bcd(trace), 12: bcd("101530"),
         13: bcd("1202"), 22: bcd("022"), 25: bcd("00"),
         35: ll(bcd(track.replace("=", "D")), len(track)), 41: tid.encode(),
         42: b"898440358120001", 49: b"156", 60: lll(bcd("22" + batch + "000"), 11),
         63: lll(b"01 ", 3)}
    if pan:
        f[2] = ll(bcd(pan, "F"), len(pan))
    if pin_block:
        f[52] = pin_block
    return f


def sign_in(tid, trace="000001", batch="000001", code="001"):
    return pack("0800", {11: bcd(trace), 41: tid.encode(), 42: b"898440358120001",
                         60: lll(bcd("00" + batch + code), 11), 63: lll(b"01 ", 3)})


# The answer parser's own table: (kind, size, prefix bytes). n sizes count digits.
ANSWER_FIELDS = {3: ("n", 6, 0), 4: ("n", 12, 0), 11: ("n", 6, 0), 12: ("n", 6, 0),
                 13: ("n", 4, 0), 15: ("n", 4, 0), 25: ("n", 2, 0), 32: ("n", 11, 1),
                 37: ("a", 12, 0), 38: ("a", 6, 0), 39: ("a", 2, 0), 41: ("a", 8, 0),
                 42: ("a", 15, 0), 48: ("n", 322, 2), 49: ("a", 3, 0), 60: ("n", 17, 2),
                 62: ("b", 512, 2), 63: ("a", 163, 2), 64: ("b", 8, 0)}


def parse(body):
    """{'mti', 'raw', number: value}; n fields as digit strings, a as str, b as bytes."""
    out = {"mti": body[:2].hex(), "raw": body}
    bitmap = struct.unpack(">Q", body[2:10])[0]
    i = 10
    for n in range(1, 65):
        if not bitmap >> (64 - n) & 1:
            continue
        kind, size, prefix = ANSWER_FIELDS[n]
        if prefix:
            size = int(body[i:i + prefix].hex())
            i += prefix
        nbytes = (size + 1) // 2 if kind == "n" else size
        data = body[i:i + nbytes]
        assert len(data) == nbytes, f"field {n} truncated"
        i += nbytes
        out[n] = data.hex()[:size] if kind == "n" else data.decode() if kind == "a" else data
    assert i == len(body), "trailing bytes after the last field"
    return out


# --- Talking to the host -----------------------------------------------------------------------

class Peer:
    def __init__(self, port, header=bytes.fromhex("603100310000"), ascii_len=False):
        self.port, self.header, self.ascii_len = port, header, ascii_len

    async def open(self):
        self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def send(self, body):
        self.w.write(frame(body, header=self.header, ascii_len=self.ascii_len))
        await self.w.drain()

    async def recv_raw(self, timeout=2.0):
        width = 4 if self.ascii_len else 2
        head = await asyncio.wait_for(self.r.readexactly(width), timeout)
        n = int(head) if self.ascii_len else struct.unpack(">H", head)[0]
        data = await asyncio.wait_for(self.r.readexactly(n), timeout)
        prefix = 5 + len(self.header)
        check(data[:5] == b"\x60\x00\x00\x00\x03", "answer TPDU has the addresses swapped")
        check(data[5:prefix] == self.header, "answer echoes the app header")
        return data[prefix:]

    async def ask(self, body, timeout=2.0):
        await self.send(body)
        return parse(await self.recv_raw(timeout))

    async def closed(self, timeout=2.0):
        try:
            return await asyncio.wait_for(self.r.read(1), timeout) == b""
        except (ConnectionError, asyncio.TimeoutError):
            return False

    async def silent(self, timeout=0.4):
        try:
            await asyncio.wait_for(self.r.read(1), timeout)
            return False
        except asyncio.TimeoutError:
            return True

    def close(self):
        self.w.close()


def check(ok, what):
    CHECKS.append(what)
    if not ok:
        raise AssertionError("FAILED: " + what)


def mac_ok(answer, key, fn=mac_ecb):
    raw = answer["raw"]
    return 64 in answer and fn(key, raw[:-8]) == raw[-8:]


async def start(args, journal):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, HOST, "--port", "0", "--journal", journal, *args,
        stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
    line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
    m = re.fullmatch(r"LISTENING (\d+)\n", line)
    check(m is not None, "host prints exactly 'LISTENING <port>'")
    return proc, int(m.group(1))


def journal(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


async def signed_in(port, tid, code="001", **kw):
    p = await Peer(port, **kw).open()
    a = await p.ask(sign_in(tid, code=code))
    check(a["mti"] == "0810" and a[39] == "00", f"{tid}: sign-in answered 0810 39=00")
    keys = a[62]
    size = 8 if code == "001" else 16
    check(len(keys) == 2 * (size + 4), f"{tid}: field 62 is {2 * (size + 4)} bytes")
    pik = tdes(TMK, keys[:size], decrypt=True)
    mak = tdes(TMK, keys[size + 4:2 * size + 4], decrypt=True)
    check(kcv(pik) == keys[size:size + 4], f"{tid}: PIK decrypts under the TMK to its KCV")
    check(kcv(mak) == keys[2 * size + 4:], f"{tid}: MAK decrypts under the TMK to its KCV")
    check(64 not in a, f"{tid}: 0810 has no MAC")
    return p, mak, a
