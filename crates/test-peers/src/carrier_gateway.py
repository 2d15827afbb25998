"""The server half shared by the SMGP 3.0 and CMPP 3.0 test gateways (smgp_gateway.py,
cmpp_gateway.py): asyncio on 127.0.0.1, the 12-byte header (Total length, Command id, Sequence id,
big-endian), a JSON-lines journal, concatenated parts joined by their UDH, and the fault modes.

Written from the protocol text with `struct`, never from the Rust client's codec. A protocol module
gives a `Protocol` object with the command ids and these methods:
  login(body) -> dict (account, authenticator, timestamp, ...), check_login(fields, secret) -> bool,
  login_resp(status, authenticator, secret) -> body, submit(body) -> dict (dest, content, udhi,
  pk_total, pk_number, need_report, ...), submit_resp(msg_id, status) -> body,
  new_msg_id() -> (raw, text), report_deliver(submit fields, msg_id raw) -> body,
  deliver_resp(body) -> dict, active_test_resp() -> body,
  and the statuses OK, AUTH_FAILED, THROTTLED.
"""

import argparse
import asyncio
import json
import struct
import sys
import time

HEADER = struct.Struct(">III")
RESPONSE = 0x80000000


class Journal:
    def __init__(self, path):
        self.file = open(path, "a", encoding="utf-8") if path else None

    def write(self, **entry):
        entry["t"] = round(time.time(), 3)
        if self.file:
            self.file.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self.file.flush()


def ucs2(payload):
    return payload.decode("utf-16-be", errors="replace")


def split_udh(content, udhi):
    """(ref, total, number) and the payload of a part whose TP_udhi is set (IEI 0x00 or 0x08)."""
    if not udhi or not content:
        return None, content
    udhl = content[0]
    udh, payload = content[1:1 + udhl], content[1 + udhl:]
    if len(udh) >= 5 and udh[0] == 0x00 and udh[1] == 3:
        return (udh[2], udh[3], udh[4]), payload
    if len(udh) >= 6 and udh[0] == 0x08 and udh[1] == 4:
        return ((udh[2] << 8) | udh[3], udh[4], udh[5]), payload
    return None, payload


class Gateway:
    def __init__(self, proto, args):
        self.proto = proto
        self.args = args
        self.journal = Journal(args.journal)
        self.submits = 0  # answered with success, across connections
        self.throttled = 0
        self.dropped = False
        self.malformed_sent = False
        self.parts = {}  # (dest, ref) -> {number: text}
        self.sequence = 1000

    def next_sequence(self):
        self.sequence += 1
        return self.sequence

    async def serve(self, reader, writer):
        conn = {"logged_in": False, "last": time.monotonic()}
        tasks = []
        if self.args.active_test_secs:
            tasks.append(asyncio.create_task(self.keepalive(writer, conn)))
        try:
            while True:
                head = await reader.readexactly(12)
                length, command, sequence = HEADER.unpack(head)
                if length < 12 or length > 4096:
                    self.journal.write(dir="in", cmd="bad-frame", length=length)
                    break
                body = await reader.readexactly(length - 12)
                conn["last"] = time.monotonic()
                if not await self.handle(writer, conn, command, sequence, body):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            self.journal.write(dir="in", cmd="closed")
        finally:
            for t in tasks:
                t.cancel()
            writer.close()

    def send(self, writer, command, sequence, body):
        writer.write(HEADER.pack(12 + len(body), command, sequence) + body)

    async def keepalive(self, writer, conn):
        """Our own Active_Test after the idle time; the client's answers go in the journal."""
        while True:
            await asyncio.sleep(self.args.active_test_secs / 4)
            if conn["logged_in"] and time.monotonic() - conn["last"] >= self.args.active_test_secs:
                self.journal.write(dir="out", cmd="active_test")
                self.send(writer, self.proto.ACTIVE_TEST, self.next_sequence(), b"")
                conn["last"] = time.monotonic()

    async def handle(self, writer, conn, command, sequence, body):
        p = self.proto
        if command == p.LOGIN:
            fields = p.login(body)
            ok = p.check_login(fields, self.args.secret) and fields["account"] == self.args.account
            status = p.OK if ok else p.AUTH_FAILED
            if ok and self.args.refuse_login is not None:
                status = self.args.refuse_login
            self.journal.write(dir="in", cmd="login", auth_ok=ok, status=status,
                               **{k: v for k, v in fields.items() if k != "authenticator"})
            self.send(writer, p.LOGIN | RESPONSE, sequence,
                      p.login_resp(status, fields["authenticator"], self.args.secret))
            await writer.drain()
            conn["logged_in"] = status == p.OK
            return status == p.OK
        if not conn["logged_in"]:
            self.journal.write(dir="in", cmd="before-login", command=command)
            return False
        if command == p.SUBMIT:
            return await self.submit(writer, sequence, body)
        if command == p.ACTIVE_TEST:
            self.journal.write(dir="in", cmd="active_test")
            if not self.args.silent:
                self.send(writer, p.ACTIVE_TEST | RESPONSE, sequence, p.active_test_resp())
            return True
        if command == p.ACTIVE_TEST | RESPONSE:
            self.journal.write(dir="in", cmd="active_test_resp")
            return True
        if command == p.DELIVER | RESPONSE:
            self.journal.write(dir="in", cmd="deliver_resp", **p.deliver_resp(body))
            return True
        if command == p.EXIT:
            self.journal.write(dir="in", cmd="exit")
            self.send(writer, p.EXIT | RESPONSE, sequence, b"")
            await writer.drain()
            return False
        self.journal.write(dir="in", cmd="unknown", command=command)
        return True

    async def submit(self, writer, sequence, body):
        p = self.proto
        fields = p.submit(body)
        ref, payload = split_udh(fields.pop("content"), fields["udhi"])
        entry = dict(dir="in", cmd="submit", seq=sequence, udh=list(ref) if ref else None,
                     text=ucs2(payload) if fields["msg_format"] == 8 else payload.decode("latin-1"), **fields)
        if self.args.malformed_after is not None and self.submits >= self.args.malformed_after \
                and not self.malformed_sent:
            self.malformed_sent = True
            entry.update(taken=False, answer="malformed")
            self.journal.write(**entry)
            writer.write(struct.pack(">III", 5, p.SUBMIT | RESPONSE, sequence))
            await writer.drain()
            return True
        if self.throttled < self.args.throttle:
            self.throttled += 1
            entry.update(taken=False, status=p.THROTTLED)
            self.journal.write(**entry)
            self.send(writer, p.SUBMIT | RESPONSE, sequence, p.submit_resp(p.empty_msg_id(), p.THROTTLED))
            return True
        raw, text_id = p.new_msg_id()
        self.submits += 1
        entry.update(taken=True, status=p.OK, msg_id=text_id)
        self.journal.write(**entry)
        self.send(writer, p.SUBMIT | RESPONSE, sequence, p.submit_resp(raw, p.OK))
        await writer.drain()
        self.reassemble(fields["dest"], ref, entry["text"])
        if self.args.drop_after is not None and self.submits >= self.args.drop_after and not self.dropped:
            self.dropped = True
            self.journal.write(dir="out", cmd="drop", after=self.submits)
            return False
        if fields["need_report"] and not self.args.no_report:
            self.send(writer, p.DELIVER, self.next_sequence(), p.report_deliver(fields, raw, self.args.stat))
            self.journal.write(dir="out", cmd="report", msg_id=text_id, stat=self.args.stat)
            await writer.drain()
        return True

    def reassemble(self, dest, ref, text):
        if ref is None:
            self.journal.write(event="message", dest=dest, parts=1, text=text)
            return
        key = (dest, ref[0])
        got = self.parts.setdefault(key, {})
        got[ref[2]] = text
        if len(got) == ref[1]:
            del self.parts[key]
            whole = "".join(got[i] for i in sorted(got))
            self.journal.write(event="message", dest=dest, parts=ref[1], text=whole, ref=ref[0])


def main(proto, description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--journal")
    ap.add_argument("--account", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--throttle", type=int, default=0, help="answer the first N submits with flow control")
    ap.add_argument("--drop-after", type=int, help="close the connection after answering the Nth submit (once)")
    ap.add_argument("--malformed-after", type=int,
                    help="after N taken submits answer the next with a frame of length 5 (once)")
    ap.add_argument("--refuse-login", type=int, help="answer logins with this status")
    ap.add_argument("--no-report", action="store_true", help="send no status reports")
    ap.add_argument("--stat", default="DELIVRD", help="the Stat word of the reports")
    ap.add_argument("--active-test-secs", type=float, default=0, help="send Active_Test after this idle time")
    ap.add_argument("--silent", action="store_true", help="never answer the client's Active_Test")
    args = ap.parse_args()
    gateway = Gateway(proto, args)

    async def run():
        server = await asyncio.start_server(gateway.serve, "127.0.0.1", args.port)
        print(f"LISTENING {server.sockets[0].getsockname()[1]}", flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        sys.exit(0)
