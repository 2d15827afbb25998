"""Self-test of iso_host.py: starts it as a subprocess and talks to it with a client built here.

The client (iso_selftest_client.py) owns everything it relies on: a DES in pure Python (checked
against the FIPS known answer), its own MACs, BCD packing with struct/bytes and a small answer
parser of its own, so a mistake in the host's pyiso8583 spec or pycryptodome use shows up as a
failed check. It also re-derives the golden values of the wire profile. The operations beyond
sale are checked in iso_selftest_ops.py. Run: target/test-venv/bin/python THIS; exit 0 = pass.
"""

import asyncio
import os
import re
import struct
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the sources for the imports below

from iso_selftest_client import (CHECKS, TMK, Peer, bcd, check, des, journal, kcv,  # noqa: E402
                                 lll, mac_ecb, mac_ok, mac_x919, pack, sale_fields, sign_in,
                                 signed_in, start, tdes)
from iso_selftest_ops import faults_host, operations_host  # noqa: E402

# --- The checks ---------------------------------------------------------------------------------

def goldens():
    kat = des(bytes.fromhex("0123456789ABCDEF"), bytes.fromhex("4E6F772069732074")).hex().upper()
    check(kat == "3FA40E8A984D4815", "own DES meets the FIPS known answer 3FA40E8A984D4815")
    mab = bytes.fromhex("0200302004C020C0981100000000000000012800000001021000")
    ecb = mac_ecb(bytes.fromhex("0123456789ABCDEF"), mab)
    x919 = mac_x919(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"), mab).hex().upper()
    k1 = kcv(bytes.fromhex("0123456789ABCDEF")).hex().upper()
    k2 = kcv(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")).hex().upper()
    print(f"golden: DES KAT {kat}; ecb MAC {ecb.decode()!r}; x919 MAC {x919}")
    print(f"golden: KCV 0123456789ABCDEF (single DES) = {k1}; "
          f"KCV 0123456789ABCDEFFEDCBA9876543210 (3DES EDE2) = {k2}")
    check(ecb == b"FEA01EAE", "golden ecb MAC is ASCII FEA01EAE")
    check(x919 == "95133FAFE9EEE7FC", "golden x919 MAC is 95133FAFE9EEE7FC")
    check(k1 == "D5D44FF7", "KCV D5D44FF7 is the single-length key 0123456789ABCDEF")


async def ecb_host(port, jpath):
    tid = "POS00001"
    p, mak, a = await signed_in(port, tid)
    check(a[60] == "00000001001", "0810 field 60 echoes batch and 60.3")
    check(a[32] == "00010000" and len(a[37]) == 12, "0810 carries 32 and a 12-char RRN")
    a = await p.ask(sign_in(tid, trace="000002", code="003"))
    check(a[39] == "30" and 62 not in a, "ecb host refuses a double-length sign-in with 30")
    a = await p.ask(sign_in(tid, trace="000003"))  # the refused one left the old key? re-sign-in
    keys = a[62]
    mak = tdes(TMK, keys[12:20], decrypt=True)

    pan = "6222020200112233445"
    a = await p.ask(pack("0200", sale_fields(tid, "000100", 12800, pan=pan, pin_block=bytes.fromhex(
        "A1B2C3D4E5F60718")), mak))
    check(a["mti"] == "0210" and a[39] == "00", "sale 128.00 approved")
    check(re.fullmatch(r"\d{6}", a[38]) and re.fullmatch(r"\d{12}", a[37]), "approval has 38 and 37")
    check(a[63] == "CUP" and a[4] == "000000012800" and a[11] == "000100", "0210 echoes 4, 11; 63 CUP")
    check(a[60] == "22000001000" and len(a[15]) == 4, "0210 echoes 60 and carries 15")
    check(mac_ok(a, mak), "0210 MAC verifies under the MAK")

    declines = ["01", "03", "04", "05", "12", "13", "14", "22", "25", "30", "33", "41", "43", "51",
                "54", "55", "61", "77"]
    for i, code in enumerate(declines):  # all on one connection
        a = await p.ask(pack("0200", sale_fields(tid, "%06d" % (200 + i), 1000 + int(code)), mak))
        check(a[39] == code and 38 not in a and mac_ok(a, mak), f"cents {code}: declined {code}")

    a = await p.ask(pack("0200", sale_fields(tid, "000300", 1094), mak))
    check(39 not in a and mac_ok(a, mak), "cents 94: answer without 39, MAC good")
    a = await p.ask(pack("0200", sale_fields(tid, "000301", 1093), mak))
    check(a[39] == "00" and 64 in a and not mac_ok(a, mak), "cents 93: answer with a wrong MAC")
    await p.send(pack("0200", sale_fields(tid, "000302", 1095), mak))
    body = await p.recv_raw()
    check(body[:1] == b"\xEE" and len(body) == 32, "cents 95: a well-framed answer of garbage")

    async def silent():
        q = await Peer(port).open()
        await q.send(pack("0200", sale_fields(tid, "000303", 1098), mak))
        check(await q.silent(), "cents 98: no answer")
        a = await q.ask(pack("0200", sale_fields(tid, "000304", 1000), mak))
        check(a[39] == "00", "cents 98: socket stays open and serves the next message")
        q.close()

    async def drop():
        q = await Peer(port).open()
        await q.send(pack("0200", sale_fields(tid, "000305", 1097), mak))
        check(await q.closed(), "cents 97: the host closes the connection")

    async def late():
        q = await Peer(port).open()
        t0 = time.monotonic()
        a = await q.ask(pack("0200", sale_fields(tid, "000306", 1096), mak))
        check(time.monotonic() - t0 >= 0.3 and a[39] == "00", "cents 96: answer after --delay-ms")
        q.close()

    async def reversals():
        q = await Peer(port).open()
        rev = lambda trace, amount: pack("0400", {  # noqa: E731
            3: bcd("000000"), 4: bcd("%012d" % amount), 11: bcd(trace), 22: bcd("022"),
            25: bcd("00"), 39: b"98", 41: tid.encode(), 42: b"898440358120001", 49: b"156",
            60: lll(bcd("22000001000"), 11), 63: lll(b"01 ", 3)}, mak)
        a = await q.ask(rev("000100", 12800))
        check(a["mti"] == "0410" and a[39] == "00" and mac_ok(a, mak), "reversal of a known sale: 00")
        a = await q.ask(rev("000100", 12800))
        check(a[39] == "00", "duplicate reversal: 00 again")
        a = await q.ask(rev("999999", 12800))
        check(a[39] == "25" and mac_ok(a, mak), "reversal of an unknown original: 25")
        q.close()
        return rev

    rev = (await asyncio.gather(silent(), drop(), late(), reversals()))[3]
    a = await p.ask(rev("000305", 1097))
    check(a[39] == "00", "reversal finds a dropped (97) sale in the ledger")

    bad = bytearray(pack("0200", sale_fields(tid, "000400", 500), mak))
    bad[-1] ^= 1
    a = await p.ask(bytes(bad))
    check(a[39] == "A0" and 64 not in a and 38 not in a, "bad request MAC: A0 without 64")
    q = await Peer(port).open()
    a = await q.ask(pack("0200", sale_fields("POS09999", "000001", 500), mak))
    check(a[39] == "A0" and 64 not in a, "terminal never signed in: A0")

    # Decode errors: field 4 of a sale is "not BCD"; a truncated field 35; a secondary bitmap.
    f = sale_fields(tid, "000500", 500)
    f[4] = bytes.fromhex("0000000000AB")
    await q.send(pack("0200", f, mak))
    check(await q.closed(), "non-BCD field 4: connection closed")
    q = await Peer(port).open()
    body = pack("0200", sale_fields(tid, "000501", 500), mak)
    await q.send(body[:30])
    check(await q.closed(), "truncated message: connection closed")
    q = await Peer(port).open()
    await q.send(b"\x02\x00\x80" + bytes(15))
    check(await q.closed(), "secondary bitmap: connection closed")
    q = await Peer(port).open()
    q.w.write(struct.pack(">H", 4097) + bytes(100))
    check(await q.closed(), "frame over 4096 bytes: connection closed")
    p.close()

    lines = journal(jpath)
    text = open(jpath).read()
    errors = [(x.get("error"), x.get("field")) for x in lines if x["dir"] == "error"]
    check(("decode", "4") in errors, "journal names field 4 for the non-BCD amount")
    check(any(e == "decode" and fld not in (None, "4", "1") for e, fld in errors),
          "journal names a field for the truncated message")
    check(("decode", "1") in errors and ("frame too long", None) in errors,
          "journal has the secondary-bitmap and too-long errors")
    check(all(s not in text for s in (pan, pan[:12], pan[-12:], "4912101123")),
          "journal never holds the PAN's or the track's digits")
    check("A1B2C3D4" not in text.upper(), "journal never holds the PIN block")
    sale = [x for x in lines if x["dir"] == "in" and x.get("11") == "000100" and x["mti"] == "0200"]
    check(sale and sale[0]["pan_last4"] == "3445" and sale[0]["lengths"] == {"2": 19, "35": 37, "52": 8},
          "journal has pan_last4 and lengths of 2, 35, 52")
    check(sale[0]["mac"] == "ok" and sale[0]["scenario"] == "approve" and sale[0]["4"] == "000000012800",
          "journal in-line has mac ok, scenario, amount")
    rev = [x["ledger"] for x in lines if x["dir"] == "in" and x["mti"] == "0400" and x["41"] == tid]
    check(rev[:3] == ["reversed", "already-reversed", "no-original"], "journal ledger notes on reversals")
    out = [x for x in lines if x["dir"] == "out" and x.get("39") == "A0"]
    check(out and all(x["mac"] == "absent" for x in out), "journal: A0 answers have mac absent")
    check(all("62" not in x for x in lines), "journal never holds field 62")
    check(any(x.get("scenario") == "not-signed-in" and x.get("41") == "POS09999" for x in lines),
          "journal: the unknown terminal's A0 is scenario not-signed-in")


async def x919_host(port, jpath):
    tid = "POS00002"
    q = await Peer(port, header=b"", ascii_len=True).open()
    a = await q.ask(sign_in(tid, code="001"))
    check(a[39] == "30", "x919 host refuses a single-length sign-in with 30")
    q.close()
    p, mak, a = await signed_in(port, tid, code="003", header=b"", ascii_len=True)
    check(a[60] == "00000042003", "--batch 42 forces 60.2")
    check(mak == bytes.fromhex("00112233445566778899AABBCCDDEEFF"), "--mak forces the working MAK")
    a = await p.ask(pack("0200", sale_fields(tid, "000010", 700, batch="000042"), mak, mac_x919), 2)
    check(a[39] == "00" and mac_ok(a, mak, mac_x919), "x919: sale approved with a good X9.19 MAC")
    rev = pack("0400", {3: bcd("000000"), 4: bcd("%012d" % 700), 11: bcd("000010"), 22: bcd("022"),
                        25: bcd("00"), 39: b"98", 41: tid.encode(), 42: b"898440358120001",
                        49: b"156", 60: lll(bcd("22000042000"), 11), 63: lll(b"01 ", 3)}, mak, mac_x919)
    await p.send(rev)
    check(await p.silent(0.3), "--silent-reversals 1: the first 0400 gets no answer")
    a = await p.ask(rev)
    check(a[39] == "00" and mac_ok(a, mak, mac_x919), "--silent-reversals 1: the second is reversed")
    r = await Peer(port, header=b"", ascii_len=True).open()
    r.w.write(b"00x1" + bytes(10))
    check(await r.closed(), "ascii length header not digits: connection closed")
    p.close()
    lines = journal(jpath)
    check(any(x.get("error") == "length header not digits" for x in lines), "journal: bad ascii length")
    check(any(x.get("scenario") == "silent" and x.get("kind") == "reversal" for x in lines),
          "journal: the silent reversal is kind reversal, scenario silent")


async def plain_host(port):
    p = await Peer(port).open()
    a = await p.ask(pack("0200", sale_fields("POS00003", "000001", 100)))
    check(a[39] == "00" and 64 not in a, "--mac none --no-require-sign-in: sale approved, no MAC")
    p.close()


async def main():
    t0 = time.monotonic()
    goldens()
    with tempfile.TemporaryDirectory() as d:
        ja, jb, jc, je = (os.path.join(d, n + ".jsonl") for n in "abce")
        hosts = await asyncio.gather(
            start(["--delay-ms", "300"], ja),
            start(["--mac", "x919", "--mak", "00112233445566778899AABBCCDDEEFF", "--batch", "42",
                   "--silent-reversals", "1", "--app-header", "", "--length-header", "ascii"], jb),
            start(["--mac", "none", "--no-require-sign-in"], jc),
            start(["--fault", "sale:05:1", "--fault", "void:silent:1", "--fault", "refund:silent:1",
                   "--mac-mtis", "0200,0210,0400,0410"], je))
        (_, port_a), (_, port_b), (_, port_c), (_, port_e) = hosts
        try:
            await asyncio.gather(ecb_host(port_a, ja), x919_host(port_b, jb), plain_host(port_c),
                                 operations_host(port_a, ja), faults_host(port_e, je))
        finally:
            for proc, _ in hosts:
                proc.kill()
                await proc.wait()
    print(f"iso_host selftest: {len(CHECKS)} checks passed in {time.monotonic() - t0:.2f} s")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except AssertionError as e:
        print(e, f"(after {len(CHECKS) - 1} passing checks)", file=sys.stderr)
        sys.exit(1)
