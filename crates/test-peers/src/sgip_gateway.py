"""An independent China Unicom SMG (短消息网关) speaking SGIP 1.2, for the platform's tests.

Written from the protocol text (中国联通 SGIP 1.2, §4.2: the 20-byte header of Message Length,
Command ID and a 12-byte Sequence Number of three big-endian integers, node id, mmddhhmmss and
a counter; Bind 0x1, Unbind 0x2, Submit 0x3, Deliver 0x4, Report 0x5; every *_Resp has the high
bit set and a body of Result (1) + Reserve (8)) with nothing but `struct` and asyncio: it
shares no code with the platform's codec.

SGIP runs both ways. The SP (our platform) connects to the SMG and binds with Login Type 1 to
submit; for every status report the SMG connects to the SP (`--report-to`), binds with Login
Type 2 and its own credentials, sends Report and waits for Report_Resp, then unbinds.

Binds 127.0.0.1, prints `LISTENING <port>` once bound. With --journal FILE every frame in and
out, every report attempt and every framing error is one JSON line:
  {"dir": "in", "cmd": "submit", "seq": [node, time, n], "user_numbers": [...], "sp_number",
   "charge_number", "corp_id", "service_type", "fee_type", "fee_value", "report_flag",
   "coding", "udhi", "udh": {"ref", "total", "part"} or null, "text" (this part), "result"}
  {"event": "message", "user": "8618612345678", "text": "...", "parts": 3}  (all parts in)
  {"event": "report", "seq": [...], "user": "...", "state": 0|2, "error": N, "result": N}
  {"event": "bind", "login": "...", "result": 0|1}, {"event": "frame-error", "detail": "..."}

Faults (`--fault` may repeat):
  throttle:N     the first N submits are answered Result 11 (节点忙: node busy, try later)
  drop:N         the connection is closed, unanswered, when the N-th submit arrives
  garbage:N      the N-th submit is answered with a frame whose length field is 9
  refuse-bind    every bind is answered Result 1 (非法登录) and the connection closed
  fail:NUMBER    reports for NUMBER say State 2 (发送失败) with ErrorCode 29 (不知道的用户)
A submit whose sequence number and body equal an earlier one's (a client's resend after a lost
answer) is answered Result 0 again but journalled `"duplicate": true` and not counted as a new
message: the spec (§3.7.2.4.3) has the receiver discard such a copy, and answering keeps a
client that lost the first answer from waiting for ever.
"""

import argparse
import asyncio
import datetime
import json
import struct
import sys

BIND, UNBIND, SUBMIT, DELIVER, REPORT = 0x1, 0x2, 0x3, 0x4, 0x5
RESP = 0x80000000
NAMES = {BIND: "bind", UNBIND: "unbind", SUBMIT: "submit", DELIVER: "deliver", REPORT: "report"}
HEADER = struct.Struct(">II III")
MAX_FRAME = 2048 + 20  # "每个消息包最大不超过 2K 字节" (§4), plus the header
RESULT_BUSY, RESULT_BAD_LOGIN, RESULT_FORMAT, RESULT_UNKNOWN_USER = 11, 1, 5, 29


def text_field(raw):
    """A fixed-length Text field: left-aligned, padded with NUL."""
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")


def pad(s, n):
    b = s.encode("ascii")
    if len(b) > n:
        raise ValueError(f"{s!r} is longer than {n} bytes")
    return b + b"\0" * (n - len(b))


def frame(cmd, seq, body=b""):
    return HEADER.pack(20 + len(body), cmd, *seq) + body


def resp_body(result):
    return bytes([result]) + b"\0" * 8


class FrameError(Exception):
    pass


async def read_frame(reader):
    head = await reader.readexactly(20)
    length, cmd, a, b, c = HEADER.unpack(head)
    if length < 20 or length > MAX_FRAME:
        raise FrameError(f"Message Length {length} outside 20..{MAX_FRAME}")
    body = await reader.readexactly(length - 20)
    return cmd, (a, b, c), body


def parse_submit(body):
    """Table 4-17, field by field."""
    at = 0

    def take(n):
        nonlocal at
        if at + n > len(body):
            raise FrameError(f"submit body ends at byte {len(body)}, field needs {at + n}")
        v = body[at:at + n]
        at += n
        return v

    m = {"sp_number": text_field(take(21)), "charge_number": text_field(take(21))}
    count = take(1)[0]
    if not 1 <= count <= 100:
        raise FrameError(f"UserCount {count} outside 1..100")
    m["user_numbers"] = [text_field(take(21)) for _ in range(count)]
    m["corp_id"] = text_field(take(5))
    m["service_type"] = text_field(take(10))
    m["fee_type"] = take(1)[0]
    m["fee_value"] = text_field(take(6))
    m["given_value"] = text_field(take(6))
    m["agent_flag"] = take(1)[0]
    m["morelateto_mt_flag"] = take(1)[0]
    m["priority"] = take(1)[0]
    m["expire_time"] = text_field(take(16))
    m["schedule_time"] = text_field(take(16))
    m["report_flag"] = take(1)[0]
    m["tp_pid"] = take(1)[0]
    m["udhi"] = take(1)[0]
    m["coding"] = take(1)[0]
    m["message_type"] = take(1)[0]
    (length,) = struct.unpack(">I", take(4))
    content = take(length)
    take(8)  # Reserve
    if at != len(body):
        raise FrameError(f"{len(body) - at} bytes after the submit's Reserve")
    udh = None
    if m["udhi"] & 1:
        # GSM 03.40 9.2.3.24: UDHL, then IEs; 00 = 8-bit reference, 08 = 16-bit reference.
        if not content or content[0] + 1 > len(content):
            raise FrameError("TP_udhi is set but the user data header is cut short")
        hl = content[0]
        ies, i = content[1:1 + hl], 0
        while i + 2 <= len(ies):
            iei, iel = ies[i], ies[i + 1]
            v = ies[i + 2:i + 2 + iel]
            if iei == 0x00 and iel == 3:
                udh = {"ref": v[0], "total": v[1], "part": v[2]}
            elif iei == 0x08 and iel == 4:
                udh = {"ref": v[0] << 8 | v[1], "total": v[2], "part": v[3]}
            i += 2 + iel
        content = content[1 + hl:]
    m["udh"] = udh
    if m["coding"] == 8:
        if len(content) % 2:
            raise FrameError("UCS-2 content of odd length")
        m["text"] = content.decode("utf-16-be")
    elif m["coding"] == 15:
        m["text"] = content.decode("gbk")
    else:
        m["text"] = content.decode("latin-1")
    return m


class Gateway:
    def __init__(self, args):
        self.args = args
        self.journal_file = open(args.journal, "a", encoding="utf-8") if args.journal else None
        self.faults = {}
        self.fail_numbers = set()
        for f in args.fault or []:
            kind, _, n = f.partition(":")
            if kind == "fail":
                self.fail_numbers.add(n)
            elif kind == "refuse-bind":
                self.faults[kind] = 1
            else:
                self.faults[kind] = int(n)
        self.submits = 0
        self.seen = {}  # sequence -> body, for resends
        self.parts = {}  # (user, ref, total) -> {part: text}
        self.counter = 0
        self.tasks = set()  # reports on their way (the loop keeps only weak references)

    def journal(self, entry):
        if self.journal_file:
            self.journal_file.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self.journal_file.flush()

    def next_seq(self):
        self.counter = (self.counter + 1) & 0xFFFFFFFF
        now = datetime.datetime.now()
        stamp = int(now.strftime("%m%d%H%M%S"))
        return (self.args.node_id, stamp, self.counter)

    async def serve(self, reader, writer):
        bound = False
        try:
            while True:
                try:
                    cmd, seq, body = await read_frame(reader)
                except FrameError as e:
                    # §3.7.2.4.2: a command the server cannot parse ends the connection.
                    self.journal({"event": "frame-error", "detail": str(e)})
                    return
                name = NAMES.get(cmd, hex(cmd))
                if cmd == BIND:
                    if len(body) != 41:
                        self.journal({"event": "frame-error", "detail": f"bind body of {len(body)} bytes"})
                        return
                    login_type, login, password = body[0], text_field(body[1:17]), text_field(body[17:33])
                    ok = (login_type == 1 and login == self.args.login and password == self.args.password
                          and "refuse-bind" not in self.faults and not bound)
                    result = 0 if ok else (2 if bound else (4 if login_type != 1 else RESULT_BAD_LOGIN))
                    self.journal({"dir": "in", "cmd": "bind", "seq": seq, "login_type": login_type,
                                  "login": login, "result": result})
                    writer.write(frame(BIND | RESP, seq, resp_body(result)))
                    await writer.drain()
                    if result != 0 and not bound:
                        return
                    bound = True
                elif not bound:
                    self.journal({"dir": "in", "cmd": name, "seq": seq, "detail": "before bind"})
                    return
                elif cmd == UNBIND:
                    self.journal({"dir": "in", "cmd": "unbind", "seq": seq})
                    writer.write(frame(UNBIND | RESP, seq))
                    await writer.drain()
                    return
                elif cmd == SUBMIT:
                    if not await self.submit(seq, body, writer):
                        return
                else:
                    # A command the SMG does not take from an SP: answered with an error.
                    self.journal({"dir": "in", "cmd": name, "seq": seq, "result": RESULT_FORMAT})
                    writer.write(frame(cmd | RESP, seq, resp_body(RESULT_FORMAT)))
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    async def submit(self, seq, body, writer):
        """Answers one submit; False when the connection is to end."""
        self.submits += 1
        n = self.submits
        if self.faults.get("drop") == n:
            self.journal({"dir": "in", "cmd": "submit", "seq": seq, "fault": "drop"})
            return False
        if self.faults.get("garbage") == n:
            self.journal({"dir": "in", "cmd": "submit", "seq": seq, "fault": "garbage"})
            writer.write(struct.pack(">II", 9, SUBMIT | RESP) + b"\x00" * 12)
            await writer.drain()
            return False
        try:
            m = parse_submit(body)
        except (FrameError, UnicodeDecodeError) as e:
            self.journal({"dir": "in", "cmd": "submit", "seq": seq, "error": str(e), "result": RESULT_FORMAT})
            writer.write(frame(SUBMIT | RESP, seq, resp_body(RESULT_FORMAT)))
            await writer.drain()
            return True
        key = tuple(seq)
        duplicate = self.seen.get(key) == body
        if n <= self.faults.get("throttle", 0):
            result = RESULT_BUSY
        else:
            bad = [u for u in m["user_numbers"] if not (u.startswith("86") and u[2:].isdigit() and len(u) == 13)]
            result = 6 if bad else 0
        entry = {"dir": "in", "cmd": "submit", "seq": seq, **m, "result": result}
        if duplicate:
            entry["duplicate"] = True
        self.journal(entry)
        writer.write(frame(SUBMIT | RESP, seq, resp_body(result)))
        await writer.drain()
        if result != 0 or duplicate:
            return True
        self.seen[key] = body
        for user in m["user_numbers"]:
            self.collect(user, m)
            fail = user in self.fail_numbers
            if m["report_flag"] == 1 or (m["report_flag"] == 0 and fail):
                task = asyncio.get_running_loop().create_task(self.report(seq, user, fail))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        return True

    def collect(self, user, m):
        udh = m["udh"]
        if udh is None:
            self.journal({"event": "message", "user": user, "text": m["text"], "parts": 1})
            return
        key = (user, udh["ref"], udh["total"])
        got = self.parts.setdefault(key, {})
        got[udh["part"]] = m["text"]
        if len(got) == udh["total"] and all(p in got for p in range(1, udh["total"] + 1)):
            text = "".join(got[p] for p in range(1, udh["total"] + 1))
            self.journal({"event": "message", "user": user, "text": text, "parts": udh["total"]})
            del self.parts[key]

    async def report(self, submit_seq, user, fail):
        """Opens the SMG→SP connection (Login Type 2), sends one Report, unbinds."""
        if not self.args.report_to:
            self.journal({"event": "report", "seq": submit_seq, "user": user, "detail": "no --report-to"})
            return
        await asyncio.sleep(self.args.report_delay_ms / 1000)
        host, _, port = self.args.report_to.rpartition(":")
        state, error = (2, RESULT_UNKNOWN_USER) if fail else (0, 0)
        entry = {"event": "report", "seq": submit_seq, "user": user, "state": state, "error": error}
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
            bind = bytes([2]) + pad(self.args.report_login, 16) + pad(self.args.report_password, 16) + b"\0" * 8
            seq = self.next_seq()
            writer.write(frame(BIND, seq, bind))
            await writer.drain()
            cmd, rseq, body = await read_frame(reader)
            entry["bind_result"] = body[0] if cmd == BIND | RESP and rseq == seq and body else None
            if entry["bind_result"] != 0:
                writer.close()
                self.journal(entry)
                return
            rep = (struct.pack(">III", *submit_seq) + bytes([0]) + pad(user, 21) + bytes([state, error])
                   + b"\0" * 8)
            seq = self.next_seq()
            writer.write(frame(REPORT, seq, rep))
            await writer.drain()
            cmd, rseq, body = await read_frame(reader)
            entry["result"] = body[0] if cmd == REPORT | RESP and rseq == seq and body else None
            seq = self.next_seq()
            writer.write(frame(UNBIND, seq))
            await writer.drain()
            cmd, rseq, _ = await read_frame(reader)
            entry["unbind_answered"] = cmd == UNBIND | RESP and rseq == seq
            writer.close()
        except (OSError, asyncio.IncompleteReadError, FrameError) as e:
            entry["error_detail"] = str(e)
        self.journal(entry)


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--journal")
    p.add_argument("--login", default="ereceipt")
    p.add_argument("--password", default="secret")
    p.add_argument("--node-id", type=int, default=102000, help="this SMG's node number (1AAAAX)")
    p.add_argument("--report-to", help="HOST:PORT where the SP takes reports")
    p.add_argument("--report-login", default="smg")
    p.add_argument("--report-password", default="smg-secret")
    p.add_argument("--report-delay-ms", type=int, default=0)
    p.add_argument("--fault", action="append")
    args = p.parse_args()
    gw = Gateway(args)
    server = await asyncio.start_server(gw.serve, "127.0.0.1", args.port)
    print(f"LISTENING {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
