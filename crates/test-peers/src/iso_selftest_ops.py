"""The self-test's checks of the operations beyond sale (pre-auth, completion, void, refund
advice, settlement) against the host rules of the session-22 wire contract, with its own client.
"""

import asyncio

from iso_selftest_client import bcd, check, journal, ll, lll, mac_ok, pack, signed_in

MID = b"898440358120001"
DATE = "1202"  # every request's local date (13), which the answers echo
TRACKS = {"CUP": "6222020200112233445D49121011234567890",
          "VIS": "4761739001010119D25122011234567890",
          "MCC": "5555555555554444D25122011234567890",
          "JCB": "3530111333300000D25122011234567890",
          "AEX": "378282246310005D2512201123456789"}
# (MTI, 3, 25, 60.1) of each operation, from the contract's table.
SALE = ("0200", "000000", "00", "22")
PREAUTH = ("0100", "030000", "06", "10")
COMPLETION = ("0200", "000000", "06", "20")
VOID_SALE = ("0200", "200000", "00", "23")
VOID_COMPLETION = ("0200", "200000", "06", "21")
REFUND = ("0220", "200000", "00", "25")


def n61(digits):
    return lll(bcd(digits), len(digits))


class Done:
    """A request as sent (its fields) and its answer (None when the host kept silent)."""

    def __init__(self, op, fields, answer):
        self.op, self.fields, self.answer = op, fields, answer
        self.trace = fields[11].hex()
        self.amount = int(fields[4].hex())

    @property
    def code(self):
        return self.answer.get(39) if self.answer else None


class Till:
    """One terminal: its peer, MAK, id, batch, traces and the MTIs it MACs (None: all)."""

    def __init__(self, peer, mak, tid, mac_mtis=None):
        self.peer, self.mak, self.tid, self.mac_mtis = peer, mak, tid, mac_mtis
        self.batch, self.trace = "000001", 0

    def key(self, mti):
        return self.mak if self.mac_mtis is None or mti in self.mac_mtis else None

    def fields(self, op, amount, card="CUP", extra=None, trace=None):
        _, proc, cond, type60 = op
        if trace is None:
            self.trace += 1
            trace = "%06d" % self.trace
        f = {3: bcd(proc), 4: bcd("%012d" % amount), 11: bcd(trace), 12: bcd("101530"),
             13: bcd(DATE), 22: bcd("022"), 25: bcd(cond), 41: self.tid.encode(), 42: MID,
             49: b"156", 60: lll(bcd(type60 + self.batch + "000"), 11), 63: lll(b"01 ", 3)}
        if card:
            f[35] = ll(bcd(TRACKS[card]), len(TRACKS[card]))
        f.update(extra or {})
        return f

    async def send(self, op, fields, answered=True):
        body = pack(op[0], fields, self.key(op[0]))
        if not answered:
            await self.peer.send(body)
            check(await self.peer.silent(0.3), f"{self.tid}: no answer to {op[0]} {op[3]}")
            return Done(op, fields, None)
        return Done(op, fields, await self.peer.ask(body))

    async def do(self, op, amount, card="CUP", extra=None, answered=True):
        return await self.send(op, self.fields(op, amount, card, extra), answered)

    # A completion, void or refund is made with the card of its original.

    async def completion(self, pre, amount, auth=None, date=DATE):
        return await self.do(COMPLETION, amount, None, {
            35: pre.fields[35], 38: (auth or pre.answer[38]).encode(),
            61: n61("000000000000" + date)})

    async def void(self, orig, amount=None, op=VOID_SALE, auth=None, answered=True, trace=None,
                   date=None):
        a = orig.answer
        extra = {35: orig.fields[35], 37: a[37].encode(), 38: (auth or a[38]).encode(),
                 61: n61(orig.fields[60][2:].hex()[2:8] + (trace or orig.trace) + (date or a[13]))}
        return await self.do(op, orig.amount if amount is None else amount, None, extra, answered)

    async def refund(self, orig, amount, date=None, rrn=None, answered=True):
        return await self.do(REFUND, amount, None, {
            35: orig.fields[35], 37: (rrn or orig.answer[37]).encode(),
            61: n61("000000000000" + (date or orig.answer[13]))}, answered)

    async def reverse(self, done):
        """The 0400 of `done`: its 3, 4, 11, 22, 25, 37/38/61 if it had them, 41, 42, 49, 60, 63."""
        f = {n: v for n, v in done.fields.items() if n in (3, 4, 11, 22, 25, 37, 38, 41, 42,
                                                             49, 60, 61, 63)}
        if done.answer and 38 in done.answer:
            f[38] = done.answer[38].encode()
        f[39] = b"98"
        return await self.peer.ask(pack("0400", f, self.key("0400")))

    async def settle(self, domestic, foreign, mac=True):
        """0500 with 48 = the two halves (debit amount, count, credit amount, count) and code 0."""
        digits = "".join("%012d%03d%012d%03d0" % half for half in (domestic, foreign))
        f = {11: bcd("%06d" % (self.trace + 1)), 41: self.tid.encode(), 42: MID,
             48: lll(bcd(digits), 62), 49: b"156", 60: lll(bcd("00" + self.batch + "201"), 11),
             63: lll(b"01 ", 3)}
        self.trace += 1
        return digits, await self.peer.ask(pack("0500", f, self.key("0500") if mac else None))


async def till(port, tid, mac_mtis=None):
    p, mak, _ = await signed_in(port, tid)
    return Till(p, mak, tid, mac_mtis)


async def completions(port):
    t = await till(port, "POS00023")
    pre = await t.do(PREAUTH, 10000)
    a = pre.answer
    check(a["mti"] == "0110" and a[39] == "00" and a[3] == "030000" and a[25] == "06",
          "pre-auth 0100 approved in a 0110 echoing 3 030000 and 25 06")
    check(len(a[38]) == 6 and len(a[37]) == 12 and a[11] == pre.trace and a[63] == "CUP",
          "pre-auth approval carries 37, 38, its 11 and 63 CUP")
    check(mac_ok(a, t.mak), "0110 MAC verifies (0100/0110 are in the default MAC list)")
    wrong = "%06d" % ((int(a[38]) + 1) % 1000000)
    check((await t.completion(pre, 10000, auth=wrong)).code == "25",
          "completion with another 38: 25")
    check((await t.completion(pre, 10000, date="0101")).code == "25",
          "completion with another 61.3 date: 25")
    c = await t.completion(pre, 11500)
    check(c.code == "00" and c.answer[37] != a[37] and len(c.answer[38]) == 6,
          "completion at exactly 115% of the pre-auth: approved with a new 37 and a 38")
    check((await t.completion(pre, 10000)).code == "94", "second completion of a pre-auth: 94")
    pre2 = await t.do(PREAUTH, 20000)
    check((await t.completion(pre2, 23010)).code == "13", "completion above 115% (230.10): 13")
    c2 = await t.completion(pre2, 23000)
    check(c2.code == "00", "completion within 115% after a refused one: approved")
    v = await t.void(c2, op=VOID_COMPLETION)
    check(v.code == "00" and v.answer[3] == "200000" and v.answer[25] == "06",
          "void of a completion (60.1 21, 25 06): approved")
    check((await t.void(c2, op=VOID_SALE)).code == "25",
          "a sale void (60.1 23) of a completion: 25")
    c2b = await t.completion(pre2, 20000)
    check(c2b.code == "00", "the voided completion's pre-auth is completed again (预授权完成撤销)")
    v2 = await t.void(c2b, op=VOID_COMPLETION)
    check(v2.code == "00" and (await t.reverse(v2)).get(39) == "00",
          "void of the second completion, then its reversal: both 00")
    check((await t.completion(pre2, 100)).code == "94",
          "the void's reversal restores the completion: a third completion is 94")
    pre3 = await t.do(PREAUTH, 5000)
    c3 = await t.completion(pre3, 5000)
    r = await t.reverse(c3)
    check(r["mti"] == "0410" and r.get(39) == "00" and mac_ok(r, t.mak),
          "reversal of a completion: 00")
    check((await t.completion(pre3, 5000)).code == "00",
          "the reversed completion's pre-auth is completed again")
    pre4 = await t.do(PREAUTH, 5000)
    check((await t.reverse(pre4)).get(39) == "00", "reversal of a pre-auth: 00")
    check((await t.completion(pre4, 5000)).code == "25", "completion of a reversed pre-auth: 25")
    check((await t.do(COMPLETION, 5000)).code == "30", "completion without 38 and 61: 30 (format)")
    t.peer.close()


async def voids(port):
    t = await till(port, "POS00024")
    s = await t.do(SALE, 12850, "VIS")
    check(s.code == "00" and s.answer[63] == "VIS", "sale by a Visa track: approved, 63 VIS")
    check((await t.void(s, amount=12800)).code == "64",
          "void for another amount than the sale's: 64")
    wrong = "%06d" % ((int(s.answer[38]) + 1) % 1000000)
    check((await t.void(s, auth=wrong)).code == "25", "void quoting another 38: 25")
    check((await t.void(s, trace="999999")).code == "25", "void of an unknown trace: 25")
    check((await t.void(s, date="0101")).code == "25", "void quoting another 61.3 date: 25")
    check((await t.void(s, op=VOID_COMPLETION)).code == "25", "completion void of a sale: 25")
    v = await t.void(s)
    a = v.answer
    check(v.code == "00" and a[4] == "000000012850" and a[11] == v.trace and a[37] != s.answer[37]
          and len(a[38]) == 6, "void of a sale: approved, 4 and 11 echoed, a new 37 and a 38")
    check(a[63] == "VIS" and mac_ok(a, t.mak), "void's 0210: 63 of the original card, MAC good")
    check((await t.void(s)).code == "94", "second void of the same sale: 94")
    check((await t.refund(s, 1000)).code == "25", "refund of a voided sale: 25")
    s2 = await t.do(SALE, 6000)
    v1 = await t.void(s2)
    r = await t.reverse(v1)
    check(v1.code == "00" and r.get(39) == "00", "a void, then its reversal: both 00")
    check((await t.void(s2)).code == "00", "after the void's reversal a second void is approved")
    bad = t.fields(VOID_SALE, 6000, extra={37: b"000000000000", 38: b"000000",
                                           61: n61("000001000001" + DATE)})
    bad[3] = bcd("000000")
    check((await t.send(VOID_SALE, bad)).code == "30", "void with processing code 000000: 30")
    t.peer.close()


async def refunds(port):
    t = await till(port, "POS00025")
    s = await t.do(SALE, 12850)
    r1 = await t.refund(s, 3000)
    a = r1.answer
    check(a["mti"] == "0230" and a[39] == "00" and a[3] == "200000" and a[4] == "000000003000",
          "refund advice 0220 of 30.00: 0230 with 39 00, 3 200000 and its 4")
    check(a[37] != s.answer[37] and len(a[38]) == 6 and a[63] == "CUP" and mac_ok(a, t.mak),
          "0230: a new 37, a 38, 63 CUP and a good MAC (0220/0230 in the default list)")
    check((await t.refund(s, 10000)).code == "13",
          "refund above what remains (100.00 of 98.50): 13")
    tampered = bytearray(pack("0220", r1.fields, t.mak))
    tampered[-1] ^= 1
    check((await t.peer.ask(bytes(tampered))).get(39) == "A0", "the same 0220 with a bad MAC: A0")
    again = await t.send(REFUND, r1.fields)
    check(again.code == "00" and again.answer[37] == a[37] and again.answer[38] == a[38],
          "the same 0220 again (after the A0 too): 00 with the first answer's 37 and 38")
    bare = {n: v for n, v in r1.fields.items() if n != 35}
    check((await t.send(REFUND, bare)).code == "00", "the same 0220 again without card data: 00")
    check((await t.refund(s, 9850)).code == "00", "refund of the exact remainder 98.50: approved")
    check((await t.refund(s, 10)).code == "13", "the repeats were counted once: 0.10 more is 13")
    check((await t.refund(s, 100, date="0101")).code == "25", "refund with another 61.3 date: 25")
    check((await t.refund(s, 100, rrn="000000000000")).code == "25", "refund of an unknown RRN: 25")
    r = await t.reverse(r1)
    check(r["mti"] == "0410" and r.get(39) == "12", "a 0400 of a refund (never reversed): 12")
    s2 = await t.do(SALE, 5000)
    check((await t.refund(s2, 1051)).code == "51", "a refund's cents choose its scenario: 51")
    unsigned = pack("0220", t.fields(REFUND, 100, extra={37: s2.answer[37].encode(),
                                                         61: n61("000000000000" + DATE)}))
    u = await t.peer.ask(unsigned)
    check(u[39] == "A0" and 64 not in u, "0220 without a MAC: A0")
    orgs = []
    for org in ("MCC", "JCB", "AEX", "CUP"):
        orgs.append((await t.do(SALE, 500, org)).answer[63])
    check(orgs == ["MCC", "JCB", "AEX", "CUP"], "63 follows the track's PAN: 5 MCC, 35 JCB, 37 AEX")
    nocard = await t.do(SALE, 500, None)
    check(nocard.answer[63] == "CUP", "a sale without a clear track: 63 CUP")
    t.peer.close()


async def settlements(port):
    t = await till(port, "POS00021")
    a = await t.do(SALE, 10000)  # domestic debit
    b = await t.do(SALE, 5000, "VIS")  # foreign debit
    c = await t.do(SALE, 2000, "JCB")
    await t.void(c)  # neither
    await t.refund(a, 2000)  # domestic credit
    await t.refund(b, 500)  # foreign credit
    pre = await t.do(PREAUTH, 8000, "MCC")  # neither
    comp = await t.completion(pre, 9000)  # foreign debit
    check(comp.code == "00" and comp.answer[63] == "MCC", "completion by a Mastercard: 63 MCC")
    rev = await t.do(SALE, 700)
    await t.reverse(rev)  # neither
    await t.do(SALE, 751)  # declined, neither
    digits, s = await t.settle((10000, 1, 2000, 1), (14000, 2, 500, 1))
    check(s["mti"] == "0510" and s[39] == "00" and s[11] == "%06d" % t.trace and s[41] == t.tid,
          "settlement 0500: 0510 with 39 00, its 11 and 41")
    check(s[48] == digits[:30] + "1" + digits[31:61] + "1",
          "balanced both ways: 48 echoed with reconciliation codes 1 and 1")
    check(mac_ok(s, t.mak), "0510 MAC verifies (0500/0510 in the default MAC list)")
    t.batch = "000002"
    check((await t.void(a)).code == "12", "void of a sale of a settled batch: 12")
    check((await t.reverse(a)).get(39) == "12", "reversal of a sale of a settled batch: 12")
    u = await t.settle((0, 0, 0, 0), (0, 0, 0, 0), mac=False)
    check(u[1][39] == "A0" and 64 not in u[1], "0500 without a MAC: A0")
    t.peer.close()

    t = await till(port, "POS00022")
    await t.do(SALE, 1000)
    await t.do(SALE, 3000, "AEX")
    digits, s = await t.settle((1200, 1, 0, 0), (3000, 1, 0, 0))
    check(s[39] == "00" and s[48] == digits[:30] + "2" + digits[31:61] + "1",
          "domestic totals differ: 48 codes 2 (domestic) and 1 (foreign)")
    digits, s = await t.settle((1000, 1, 0, 0), (0, 0, 0, 0))
    check(s[48][30] == "1" and s[48][61] == "2", "foreign totals differ: codes 1 and 2")
    t.peer.close()


async def operations_host(port, jpath):
    await asyncio.gather(completions(port), voids(port), refunds(port), settlements(port))
    lines = journal(jpath)
    text = open(jpath).read()
    kinds = {x.get("kind") for x in lines if x["dir"] == "in"}
    check(kinds >= {"sign-in", "sale", "preauth", "completion", "void", "refund", "reversal",
                    "settlement"}, "journal: every message has its kind")
    notes = [x.get("ledger") or "" for x in lines if x["dir"] == "in"]
    for note in ("voided", "completed", "settled: balanced", "settled: not balanced",
                 "already voided", "already completed"):
        check(note in notes, f"journal: ledger note {note!r}")
    check("refund 1 of 000001: 30.00 of 128.50" in notes
          and "refund 1 of 000001: 30.00 of 128.50 (repeat)" in notes
          and "refund 2 of 000001: 128.50 of 128.50" in notes, "journal: refund notes and repeats")
    check(any(n.startswith("reversed; sale") and n.endswith("voidable again") for n in notes)
          and any(n.endswith("completable again") for n in notes),
          "journal: a reversed void or completion releases its original")
    check(any(n.startswith("amount differs") for n in notes)
          and any(n.startswith("batch 000001 settled") for n in notes),
          "journal: the 64 and 12 refusals say why")
    void = [x for x in lines
            if x["dir"] == "in" and x.get("kind") == "void" and x.get("41") == "POS00024"]
    check(void and all(len(x["61"]) == 16 for x in void), "journal: a void's 61 is journalled")
    settle = [x for x in lines if x.get("mti") in ("0500", "0510") and x.get("41") == "POS00021"]
    check(len(settle[0]["48"]) == 62 and settle[0]["host_48"] == settle[0]["48"]
          and settle[1]["48"][30] == "1", "journal: 48 in and out, and the host's own totals")
    check(all(t[:12] not in text and t[-12:] not in text for t in TRACKS.values()),
          "journal never holds the cards' PANs or tracks")


async def faults_host(port, jpath):
    """--fault sale:05:1 --fault void:silent:1 --fault refund:silent:1, 0220/0500 not MACed."""
    macs = {"0200", "0400"}
    t, u = await asyncio.gather(till(port, "POS00031", macs), till(port, "POS00032", macs))
    check((await t.do(SALE, 1000)).code == "05", "--fault sale:05:1: the first sale declined 05")

    async def void_fault():
        s = await t.do(SALE, 1094)
        check(39 not in s.answer and len(s.answer[38]) == 6,
              "after the fault, cents 94 apply again")
        v = await t.void(s, answered=False)
        check(v.answer is None, "--fault void:silent:1: the void gets no answer")
        check((await t.reverse(v)).get(39) == "00", "the unanswered void's reversal: 00")
        check((await t.void(s)).code == "00",
              "a second void of a ...94 amount: 00 (no cents scenario on voids)")
        _, st = await t.settle((0, 0, 0, 0), (0, 0, 0, 0))
        check(st[39] == "00" and st[48][30] == "1" and 64 not in st,
              "settlement off --mac-mtis: balanced (the voided sale out), no MAC")

    async def refund_fault():
        s = await u.do(SALE, 5000, "VIS")
        r1 = await u.refund(s, 2000, answered=False)
        # Sent again as the terminal does: the same 0220 without the card, which it keeps not.
        again = await u.send(REFUND, {n: v for n, v in r1.fields.items() if n != 35})
        check(again.code == "00" and 64 not in again.answer and again.answer[63] == "VIS",
              "--fault refund:silent:1: the 0220 resent without card data answered 00, 63 of "
              "the original, no MAC (0230 off the list)")
        check((await u.refund(s, 3010)).code == "13",
              "the unanswered refund counted once: 30.10 is 13")
        check((await u.refund(s, 3000)).code == "00", "and 30.00 is approved")
        _, st = await u.settle((0, 0, 0, 0), (5000, 1, 5000, 2))
        check(st[48][30] == "1" and st[48][61] == "1",
              "settlement counts the resent refund once, foreign by its original's card")

    await asyncio.gather(void_fault(), refund_fault())
    t.peer.close()
    u.peer.close()
    lines = journal(jpath)
    notes = [x.get("ledger") for x in lines if x["dir"] == "in" and x.get("41") == "POS00032"]
    check("refund 1 of 000001: 20.00 of 50.00 (repeat)" in notes
          and "refund 2 of 000001: 50.00 of 50.00" in notes, "journal: the silent refund's repeat")
    check(any(x.get("kind") == "void" and x.get("scenario") == "silent" for x in lines),
          "journal: the faulted void is kind void, scenario silent")
