"""An independent ISO 8583 acquirer host for the terminal's tests (wire profile "unionpay").

Decodes and encodes with PyPI pyiso8583 (a spec dict written from the profile's field table,
never from the Rust codec) and does DES/3DES with pycryptodome, both in iso_host_wire.py. Binds
127.0.0.1, prints `LISTENING <port>` once bound, then serves many connections, several messages
on each.

Sign-in (0800) hands out working keys (PIK, MAK) under the TMK in field 62 with check values.
Sales, pre-auths, completions, voids, refund advices (0220), reversals (0400) and settlements
(0500) are checked by the host rules of iso_host_ledger.py, which keeps every one by terminal id
(41), batch (60.2) and trace (11). How the host answers (its scenario) comes from `--fault
KIND:SCENARIO:N` for the first N messages of a kind, else, for sales, pre-auths, completions and
refunds, from the cents of field 4: decline codes, 98 silent, 97 drop, 96 late, 95 garbage, 94
no 39, 93 bad MAC. A bad or missing request MAC, or no key for the terminal, is answered
39 = A0 without field 64; a request that breaks the message table, 39 = 30.

With --journal FILE each message in and out and each framing or decode error is one JSON line:
its safe fields (48 and 61 among them), `kind` (sale, preauth, completion, void, refund,
reversal, settlement, sign-in), `scenario`, `ledger` (what the ledger made of it: "recorded",
"voided", "completed", "refund 1 of 000123: 30.00 of 128.50", "settled: balanced", a refusal's
reason...) and, for a 0500, `host_48`: the totals the host counted. Card data (fields 2, 35,
36, 52, 55) and key material (62) are never written, only lengths; the PAN appears as its last
four digits.
"""

import argparse
import asyncio
import datetime
import json
import os
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the sources for the import below

import iso8583  # noqa: E402

from iso_host_ledger import Ledger, classify  # noqa: E402
from iso_host_wire import (SPEC, NUMERIC, TRACKS, FrameError, kcv, mac_ecb, mac_x919,  # noqa: E402
                           odd_parity, tdes_enc)

MAX_FRAME = 4096
DEFAULT_MAC_MTIS = "0100,0110,0200,0210,0220,0230,0400,0410,0500,0510"
DECLINES = {"01", "03", "04", "05", "12", "13", "14", "22", "25", "30", "33", "41", "43", "51",
            "54", "55", "61", "77"}
FAULTS = {"98": "silent", "97": "drop", "96": "late", "95": "garbage", "94": "no-39",
          "93": "bad-mac"}
KINDS = ("sale", "preauth", "completion", "void", "refund", "reversal", "settlement")
# The kinds whose amount is the cashier's to choose, so its cents may pick the scenario.
CENTS_KINDS = {"sale", "preauth", "completion", "refund"}
CODE_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SENSITIVE = ("2", "35", "36", "52", "55", "62")
JOURNALLED = ("3", "4", "11", "12", "13", "15", "22", "25", "37", "38", "39", "41", "42", "48",
              "49", "60", "61", "63")


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
        self.ledger = Ledger()
        # kind -> [[scenario, decline code or None, messages left], ...], used up in order.
        self.faults = {}
        for kind, scenario, code, count in opts.fault + [
                ("reversal", "silent", None, opts.silent_reversals)]:
            self.faults.setdefault(kind, []).append([scenario, code, count])
        self.auth_codes = set()
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

    def new_auth(self):
        """A fresh auth code (38), never one handed out before, so a completion finds one pre-auth."""
        while True:
            code = "%06d" % (int.from_bytes(os.urandom(3), "big") % 1000000)
            if code not in self.auth_codes:
                self.auth_codes.add(code)
                return code

    def answer_fields(self, doc, mti):
        now = datetime.datetime.now()
        return {"t": mti, "3": doc.get("3"), "4": doc.get("4"), "11": doc.get("11"),
                "12": doc.get("12", now.strftime("%H%M%S")), "13": doc.get("13", now.strftime("%m%d")),
                "15": now.strftime("%m%d"), "25": doc.get("25"), "32": "00010000",
                "37": self.next_rrn(), "41": doc.get("41"), "42": doc.get("42"), "49": doc.get("49"),
                "60": doc.get("60")}

    def scenario(self, kind, doc):
        """(scenario, decline code or None): a --fault still unused for the kind, else the cents."""
        for entry in self.faults.get(kind, ()):
            if entry[2] > 0:
                entry[2] -= 1
                return entry[0], entry[1]
        if kind in CENTS_KINDS:
            cents = doc.get("4", "00")[-2:]
            if cents in DECLINES:
                return "decline", cents
            return FAULTS.get(cents, "approve"), None
        return "approve", None

    def operation(self, kind, doc, mac, problem):
        """(answer, scenario, ledger note) for a sale, pre-auth, completion, void or refund."""
        answer = self.answer_fields(doc, "%04d" % (int(doc["t"]) + 10))
        refused = self.refusal(doc, mac)
        if refused:
            self.ledger.refused(kind, doc)
            answer["39"] = "A0"
            return answer, refused, "recorded"
        if problem:
            answer["39"] = "30"
            return answer, "format", "format: " + problem
        scenario, decline = self.scenario(kind, doc)
        out = self.ledger.request(kind, doc, answer["37"], self.new_auth(), decline)
        answer["39"] = out.code
        if out.code == "00":
            answer["37"], answer["38"] = out.rrn, out.auth
        answer["63"] = out.org
        if scenario == "no-39":
            del answer["39"]
        return answer, scenario, out.note

    def reversal(self, doc, mac):
        answer = self.answer_fields(doc, "0410")
        refused = self.refusal(doc, mac)
        if refused:
            answer["39"] = "A0"
            return answer, refused, None
        scenario, decline = self.scenario("reversal", doc)
        if decline:
            answer["39"] = decline
            return answer, scenario, "declined " + decline
        answer["39"], note = self.ledger.reverse(doc)
        if scenario == "no-39":
            del answer["39"]
        return answer, "reversal" if scenario == "approve" else scenario, note

    def settlement(self, doc, mac, problem):
        """(answer, scenario, note, the host's own 48) for a 0500."""
        now = datetime.datetime.now()
        answer = {"t": "0510", "11": doc.get("11"), "12": now.strftime("%H%M%S"),
                  "13": now.strftime("%m%d"), "15": now.strftime("%m%d"), "41": doc.get("41"),
                  "42": doc.get("42"), "49": doc.get("49"), "60": doc.get("60")}
        refused = self.refusal(doc, mac)
        if refused:
            answer["39"] = "A0"
            return answer, refused, None, None
        if problem:
            answer["39"] = "30"
            return answer, "format", "format: " + problem, None
        scenario, decline = self.scenario("settlement", doc)
        if decline:
            answer["39"] = decline
            return answer, scenario, "declined " + decline, None
        answer["39"], note, answer["48"], ours = self.ledger.settle(doc)
        if scenario == "no-39":
            del answer["39"]
        return answer, scenario, note, ours

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
        ledger, delay, corrupt, ours = None, 0, False, None
        kind, problem = classify(doc)
        if kind == "sign-in":
            answer, scenario = self.sign_in(doc)
        elif kind == "reversal":
            answer, scenario, ledger = self.reversal(doc, mac)
        elif kind == "settlement":
            answer, scenario, ledger, ours = self.settlement(doc, mac, problem)
        elif kind is not None:
            answer, scenario, ledger = self.operation(kind, doc, mac, problem)
        else:
            answer = {"t": "%04d" % (int(doc["t"]) + 10), "11": doc.get("11"),
                      "39": "30" if problem else "40", "41": doc.get("41"), "42": doc.get("42")}
            scenario, ledger = ("format", "format: " + problem) if problem else ("unsupported", None)
        self.journal.write(dir="in", conn=conn, mac=mac, scenario=scenario, kind=kind,
                           ledger=ledger, host_48=ours, **describe(doc))
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
            self.journal.write(dir="out", conn=conn, mac=mac_out, scenario=scenario, kind=kind,
                               ledger=ledger, undelivered=gone,
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


def fault(text):
    """`KIND:SCENARIO:N` -> (kind, scenario, decline code or None, N) for --fault."""
    parts = text.split(":")
    if len(parts) != 3 or parts[0] not in KINDS or not parts[2].isdigit():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not KIND:SCENARIO:N (KIND one of {', '.join(KINDS)})")
    kind, scenario, count = parts
    if scenario in FAULTS.values():
        return kind, scenario, None, int(count)
    if len(scenario) == 2 and all(c in CODE_CHARS for c in scenario) and scenario != "00":
        return kind, "decline", scenario, int(count)
    raise argparse.ArgumentTypeError(
        f"scenario {scenario!r} is none of {', '.join(FAULTS.values())} nor a two-character code")


def options(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--journal", help="JSON lines file, appended to")
    p.add_argument("--tmk", default="0123456789ABCDEFFEDCBA9876543210")
    p.add_argument("--mak", help="force the working MAK (hex, 8 or 16 bytes); PIK stays random")
    p.add_argument("--mac", choices=("ecb", "x919", "none"), default="ecb")
    p.add_argument("--mac-mtis", default=DEFAULT_MAC_MTIS)
    p.add_argument("--delay-ms", type=int, default=5000, help="scenario 96's delay")
    p.add_argument("--silent-reversals", type=int, default=0, metavar="N",
                   help="the same as --fault reversal:silent:N (after any --fault reversal:...)")
    p.add_argument("--fault", type=fault, action="append", default=[], metavar="KIND:SCENARIO:N",
                   help="the first N messages of KIND (sale, preauth, completion, void, refund, "
                        "reversal, settlement) get SCENARIO (silent, drop, late, garbage, no-39, "
                        "bad-mac, or a two-character decline code) whatever their cents; "
                        "repeatable, several for one kind are used up in order")
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
