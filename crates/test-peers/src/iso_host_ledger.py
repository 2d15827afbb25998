"""The test host's ledger: which operation a request is, and the host's rules for each (the wire
contract's "Host rules"). Pure logic on decoded fields, no sockets or clocks: iso_host.py asks.

Every request the host processes is kept by terminal (41), batch (60.2) and trace (11), with its
kind, amount, RRN (37), auth code (38), local date (13), card organisation and state, so that a
void, refund, completion or reversal can find its original and a settlement can add a batch up.
"""

from dataclasses import dataclass, field

# (MTI, 60.1) -> (kind, field 3, field 25, the fields it must carry besides 4, 11, 41, 60).
OPERATIONS = {
    ("0200", "22"): ("sale", "000000", "00", ()),
    ("0100", "10"): ("preauth", "030000", "06", ()),
    ("0200", "20"): ("completion", "000000", "06", ("38", "61")),
    ("0200", "23"): ("void", "200000", "00", ("37", "38", "61")),
    ("0200", "21"): ("void", "200000", "06", ("37", "38", "61")),
    ("0220", "25"): ("refund", "200000", "00", ("37", "61")),
}
# What a void (by its 60.1) may void.
VOIDS = {"23": "sale", "21": "completion"}
# PAN prefixes of the card organisations (field 63 of an answer); any other clear PAN is CUP.
ORGANISATIONS = (("62", "CUP"), ("34", "AEX"), ("35", "JCB"), ("37", "AEX"), ("4", "VIS"),
                 ("5", "MCC"))
DOMESTIC = "CUP"


def classify(doc):
    """(kind, problem): the operation by MTI and 60.1, and what breaks the table (None if nothing).

    Kind None with no problem: a message type the host does not serve at all.
    """
    mti, f60 = doc["t"], doc.get("60", "")
    if mti == "0800":
        return "sign-in", None
    if mti == "0400":
        return "reversal", None
    if mti == "0500":
        return "settlement", _settlement_problem(doc, f60)
    if mti not in ("0100", "0200", "0220"):
        return None, None
    op = OPERATIONS.get((mti, f60[:2]))
    if op is None:
        return None, f"60.1 {f60[:2] or 'missing'} is no operation of {mti}"
    kind, proc, condition, needs = op
    missing = [f for f in ("4", "11", "41") + needs if f not in doc]
    if missing:
        return kind, "missing field " + ", ".join(missing)
    if doc.get("3") != proc:
        return kind, f"field 3 is {doc.get('3')}, not {proc} for 60.1 {f60[:2]}"
    if doc.get("25") != condition:
        return kind, f"field 25 is {doc.get('25')}, not {condition} for 60.1 {f60[:2]}"
    if len(f60) < 8:
        return kind, "field 60 has no batch (60.2)"
    if "61" in needs and len(doc["61"]) < 16:
        return kind, "field 61 is shorter than batch + trace + date"
    if kind in ("completion", "refund") and doc["61"][:12] != "0" * 12:
        return kind, "61.1 and 61.2 of a completion or refund are 000000"
    return kind, None


def _settlement_problem(doc, f60):
    if f60[:2] != "00" or f60[8:11] != "201" or len(f60) < 11:
        return f"field 60 is {f60 or 'missing'}, not 00 + batch + 201"
    if len(doc.get("48", "")) != 62:
        return "field 48 is not 62 digits"
    return None


def organisation(doc):
    """The card organisation by the clear PAN (field 2 or track 2); None without a clear card."""
    track = doc.get("35", "")
    pan = doc.get("2") or track.split("D")[0]
    if not pan:
        return None
    return next((org for prefix, org in ORGANISATIONS if pan.startswith(prefix)), DOMESTIC)


def money(cents):
    return "%d.%02d" % divmod(cents, 100)


@dataclass
class Record:
    kind: str
    type60: str  # 60.1, which a reversal must repeat
    tid: str
    batch: str
    trace: str
    amount: int  # cents
    date: str  # 13, the local date MMDD a later operation quotes in 61.3
    org: str
    approved: bool
    rrn: str = None
    auth: str = None
    reversed: bool = False
    original: tuple = None  # the key of what a void, completion or refund applies to
    voided_by: tuple = None  # the key of the approved, unreversed void of this one
    completed_by: tuple = None  # the key of the approved, unreversed completion of this pre-auth
    quoted: tuple = field(default=())  # a refund's 4, 37, 61, compared on a repeat
    note: str = None

    @property
    def key(self):
        return (self.tid, self.batch, self.trace)


@dataclass
class Outcome:
    code: str  # field 39
    note: str  # the journal's ledger note
    rrn: str = None  # the answer's 37 and 38 (a repeated refund's are its first answer's)
    auth: str = None
    org: str = DOMESTIC


def key_of(doc):
    return (doc.get("41"), doc.get("60", "")[2:8], doc.get("11"))


class Ledger:
    def __init__(self):
        self.records = {}  # (41, 60.2, 11) -> Record
        self.settled = set()  # (41, 60.2) of each settled batch

    def _record(self, kind, doc, org, approved):
        rec = Record(kind=kind, type60=doc.get("60", "")[:2], tid=doc.get("41"),
                     batch=doc.get("60", "")[2:8], trace=doc.get("11"),
                     amount=int(doc.get("4") or 0), date=doc.get("13"), org=org,
                     approved=approved)
        self.records[rec.key] = rec
        return rec

    def refused(self, kind, doc):
        """Keeps a request answered A0, declined, so that a reversal of it still finds it (but
        never in place of one booked under the same key, such as an acknowledged refund)."""
        if key_of(doc) not in self.records:
            self._record(kind, doc, organisation(doc) or DOMESTIC, False)

    def request(self, kind, doc, rrn, auth, decline=None):
        """Checks a sale, pre-auth, completion, void or refund by the host rules and books it.

        `rrn` and `auth` are what an approval answers; `decline` a code the scenario imposes
        when the rules would approve.
        """
        if kind == "refund":
            repeat = self._repeated_refund(doc)
            if repeat:
                return repeat
        original, code, note = {"completion": self._completion, "void": self._void,
                                "refund": self._refund}.get(kind, _no_original)(doc)
        if code == "00" and decline:
            code, note = decline, "declined " + decline
        org = organisation(doc) or (original.org if original else DOMESTIC)
        rec = self._record(kind, doc, org, code == "00")
        if code != "00":
            return Outcome(code, note, org=org)
        rec.rrn, rec.auth = rrn, auth
        if original is not None:
            rec.original = original.key
        if kind == "void":
            original.voided_by = rec.key
            pre = self.records.get(original.original) if original.kind == "completion" else None
            if pre is not None and pre.completed_by == original.key:
                # 预授权完成撤销: the hold is back; the pre-auth may be completed again.
                pre.completed_by = None
                note = f"voided; pre-auth {pre.trace} completable again"
        elif kind == "completion":
            original.completed_by = rec.key
        elif kind == "refund":
            rec.quoted = (doc.get("4"), doc.get("37"), doc.get("61"))
            done = self._refunds_of(original)
            note = "refund %d of %s: %s of %s" % (len(done), original.trace,
                                                  money(sum(r.amount for r in done)),
                                                  money(original.amount))
        rec.note = note
        return Outcome("00", note, rrn, auth, org)

    def _repeated_refund(self, doc):
        """The first answer again for an acknowledged 0220 sent again (same 41 + 60.2 + 11)."""
        prior = self.records.get(key_of(doc))
        if prior is None or prior.kind != "refund" or not prior.approved:
            return None
        if prior.quoted != (doc.get("4"), doc.get("37"), doc.get("61")):
            return Outcome("94", "trace reused: a refund with other 4, 37 or 61", org=prior.org)
        return Outcome("00", prior.note + " (repeat)", prior.rrn, prior.auth, prior.org)

    def _refunds_of(self, original):
        return [r for r in self.records.values()
                if r.kind == "refund" and r.approved and r.original == original.key]

    def _void(self, doc):
        tid, f61 = doc.get("41"), doc["61"]
        want = VOIDS[doc["60"][:2]]
        orig = self.records.get((tid, f61[:6], f61[6:12]))
        if orig is None or orig.kind != want:
            return None, "25", f"no-original: no {want} {f61[:6]}/{f61[6:12]} of {tid}"
        if not orig.approved or orig.reversed:
            return None, "25", f"no-original: the {want} was not approved or was reversed"
        if (orig.rrn, orig.auth) != (doc["37"], doc["38"]):
            return None, "25", "no-original: 37 or 38 differs from the original's"
        if orig.date != f61[12:16]:
            return None, "25", f"no-original: 61.3 {f61[12:16]} is not the original's date {orig.date}"
        if orig.voided_by is not None:
            return None, "94", "already voided"
        amount = int(doc["4"])
        if amount != orig.amount:
            return None, "64", f"amount differs: {money(amount)}, the original {money(orig.amount)}"
        if (tid, orig.batch) in self.settled:
            return None, "12", f"batch {orig.batch} settled"
        return orig, "00", "voided"

    def _refund(self, doc):
        tid, date = doc.get("41"), doc["61"][12:16]
        found = [r for r in self.records.values()
                 if r.tid == tid and r.rrn == doc["37"] and r.kind in ("sale", "completion")]
        if not found:
            return None, "25", f"no-original: no sale or completion with 37 {doc['37']} of {tid}"
        orig = found[-1]
        if orig.date != date:
            return None, "25", f"no-original: 61.3 {date} is not the original's date {orig.date}"
        if not orig.approved or orig.reversed or orig.voided_by is not None:
            return None, "25", "no-original: the original was reversed or voided"
        before = sum(r.amount for r in self._refunds_of(orig))
        amount = int(doc["4"])
        if before + amount > orig.amount:
            return None, "13", (f"above the remaining: {money(amount)} asked, "
                                f"{money(orig.amount - before)} left of {money(orig.amount)}")
        return orig, "00", None

    def _completion(self, doc):
        tid, date = doc.get("41"), doc["61"][12:16]
        found = [r for r in self.records.values()
                 if r.tid == tid and r.kind == "preauth" and r.approved and not r.reversed
                 and r.auth == doc["38"] and r.date == date]
        if not found:
            return None, "25", f"no-original: no approved pre-auth with 38 {doc['38']} on {date}"
        pre = found[-1]
        if pre.completed_by is not None:
            return None, "94", "already completed"
        amount = int(doc["4"])
        if amount * 100 > pre.amount * 115:
            return None, "13", f"above 115%: {money(amount)} for a pre-auth of {money(pre.amount)}"
        return pre, "00", "completed"

    def reverse(self, doc):
        """(39, note) for a reversal: found by 41 + 60.2 + 11, of the same 60.1."""
        rec = self.records.get(key_of(doc))
        if rec is None:
            return "25", "no-original"
        if rec.type60 != doc.get("60", "")[:2]:
            return "25", (f"no-original: 60.1 {doc.get('60', '')[:2]}, "
                          f"the original's is {rec.type60}")
        if rec.kind == "refund":
            return "12", "not reversible: a refund"
        if rec.reversed:
            return "00", "already-reversed"
        if (rec.tid, rec.batch) in self.settled:
            return "12", f"not reversible: batch {rec.batch} settled"
        rec.reversed = True
        orig = self.records.get(rec.original) if rec.original else None
        if rec.kind == "void" and orig is not None and orig.voided_by == rec.key:
            orig.voided_by = None
            pre = self.records.get(orig.original) if orig.kind == "completion" else None
            if pre is not None and pre.completed_by is None:
                pre.completed_by = orig.key  # the completion stands again, and holds its pre-auth
            return "00", f"reversed; {orig.kind} {orig.trace} voidable again"
        if rec.kind == "completion" and orig is not None and orig.completed_by == rec.key:
            orig.completed_by = None
            return "00", f"reversed; pre-auth {orig.trace} completable again"
        return "00", "reversed"

    def totals(self, tid, batch):
        """Field 48 as the host counts the batch (reconciliation codes 0): CUP, then the others."""
        sums = {True: [0, 0, 0, 0], False: [0, 0, 0, 0]}
        for r in self.records.values():
            if r.tid != tid or r.batch != batch or not r.approved or r.reversed:
                continue
            half = sums[r.org == DOMESTIC]
            if r.kind in ("sale", "completion") and r.voided_by is None:
                half[0] += r.amount
                half[1] += 1
            elif r.kind == "refund":
                half[2] += r.amount
                half[3] += 1
        return "".join("%012d%03d%012d%03d0" % tuple(sums[d]) for d in (True, False))

    def settle(self, doc):
        """(39, note, answer 48, host's 48): the terminal's 48 with codes 1 (balanced) or 2."""
        tid, batch, theirs = doc.get("41"), doc["60"][2:8], doc["48"]
        ours = self.totals(tid, batch)
        halves = []
        for i in (0, 31):
            same = theirs[i:i + 30] == ours[i:i + 30]
            halves.append(theirs[i:i + 30] + ("1" if same else "2"))
        self.settled.add((tid, batch))
        balanced = all(h.endswith("1") for h in halves)
        note = "settled: balanced" if balanced else "settled: not balanced"
        return "00", note, "".join(halves), ours


def _no_original(doc):
    return None, "00", "recorded"
