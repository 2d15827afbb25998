"""The SGIP 1.2 test gateway's own test: an SP built here by hand (frames packed from the
protocol's tables, nothing shared with the gateway's parser) binds, submits a short and a
three-part UCS-2 message, takes the gateway's reports on a listener of its own, and meets each
fault mode. Exits non-zero, naming the check, on the first failure.
"""

import asyncio
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
checks = 0


def check(cond, what):
    global checks
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


def head(length, cmd, seq):
    return length.to_bytes(4, "big") + cmd.to_bytes(4, "big") + b"".join(x.to_bytes(4, "big") for x in seq)


def fixed(s, n):
    return s.encode() + bytes(n - len(s))


def bind(name, password, seq=(3010012345, 1203120000, 1)):
    body = bytes([1]) + fixed(name, 16) + fixed(password, 16) + bytes(8)
    return head(20 + len(body), 1, seq) + body


def submit(user, text, seq, udh=None, report_flag=1):
    content = text.encode("utf-16-be")
    if udh:
        ref, total, part = udh
        content = bytes([5, 0, 3, ref, total, part]) + content
    body = (fixed("1065512345", 21) + fixed("000000000000000000000", 21) + bytes([1]) + fixed(user, 21)
            + fixed("12345", 5) + fixed("RECEIPT", 10) + bytes([1]) + fixed("0", 6) + fixed("0", 6)
            + bytes([0, 2, 0]) + bytes(16) + bytes(16) + bytes([report_flag, 0, 1 if udh else 0, 8, 0])
            + len(content).to_bytes(4, "big") + content + bytes(8))
    return head(20 + len(body), 3, seq) + body


async def answer(reader):
    h = await reader.readexactly(20)
    length = int.from_bytes(h[:4], "big")
    body = await reader.readexactly(length - 20)
    return int.from_bytes(h[4:8], "big"), tuple(int.from_bytes(h[8 + 4 * i:12 + 4 * i], "big") for i in range(3)), body


class ReportSink:
    """The SP's side of SGIP's second connection: takes Bind (type 2), Report, Unbind."""

    def __init__(self):
        self.reports = []
        self.binds = []

    async def serve(self, reader, writer):
        try:
            while True:
                cmd, seq, body = await answer(reader)
                if cmd == 1:
                    self.binds.append((body[0], body[1:17].rstrip(b"\0").decode()))
                    writer.write(head(29, 0x80000001, seq) + bytes(9))
                elif cmd == 5:
                    self.reports.append({
                        "submit_seq": struct.unpack(">III", body[:12]), "type": body[12],
                        "user": body[13:34].rstrip(b"\0").decode(), "state": body[34], "error": body[35]})
                    writer.write(head(29, 0x80000005, seq) + bytes(9))
                elif cmd == 2:
                    writer.write(head(20, 0x80000002, seq))
                    await writer.drain()
                    break
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        writer.close()


def start(journal, sink_port, *faults):
    args = [sys.executable, os.path.join(HERE, "sgip_gateway.py"), "--port", "0", "--journal", journal,
            "--report-to", f"127.0.0.1:{sink_port}"]
    for f in faults:
        args += ["--fault", f]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    check(line.startswith("LISTENING "), f"the gateway said {line!r}")
    return proc, int(line.split()[1])


def lines(journal):
    with open(journal, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


async def until(pred, what, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        await asyncio.sleep(0.02)
    check(False, what)


async def main():
    sink = ReportSink()
    server = await asyncio.start_server(sink.serve, "127.0.0.1", 0)
    sink_port = server.sockets[0].getsockname()[1]
    tmp = tempfile.mkdtemp()

    # The happy path: bind, a short message, a long one in three parts, reports, unbind.
    j = os.path.join(tmp, "ok.jsonl")
    proc, port = start(j, sink_port, "fail:8613000000001")
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(bind("ereceipt", "secret"))
        cmd, seq, body = await answer(r)
        check(cmd == 0x80000001 and body[0] == 0 and seq == (3010012345, 1203120000, 1), "bind accepted")
        w.write(submit("8613012345678", "【电子签购单】收据", (3010012345, 1203120000, 2)))
        cmd, seq, body = await answer(r)
        check(cmd == 0x80000003 and body == bytes(9) and seq[2] == 2, "short submit accepted, same seq")
        long_text = "商户" * 100
        chunks = [long_text[i:i + 67] for i in range(0, len(long_text), 67)]
        check(len(chunks) == 3, "three parts")
        for i, c in enumerate(chunks):
            w.write(submit("8613012345678", c, (3010012345, 1203120000, 10 + i), udh=(7, 3, i + 1)))
            cmd, seq, body = await answer(r)
            check(body[0] == 0 and seq[2] == 10 + i, f"part {i + 1} accepted")
        w.write(submit("8613000000001", "to nobody", (3010012345, 1203120000, 20), report_flag=0))
        check((await answer(r))[2][0] == 0, "submit to a failing number accepted (the report tells)")
        w.write(submit("13012345678", "no 86", (3010012345, 1203120000, 21)))
        check((await answer(r))[2][0] == 6, "a number without 86 is refused with 6")
        # A resend of part 1 after a lost answer: answered, not a new message.
        w.write(submit("8613012345678", chunks[0], (3010012345, 1203120000, 10), udh=(7, 3, 1)))
        check((await answer(r))[2][0] == 0, "a resend is answered")
        w.write(head(20, 2, (3010012345, 1203120000, 30)))
        cmd, _, _ = await answer(r)
        check(cmd == 0x80000002, "unbind answered")
        await until(lambda: len(sink.reports) == 5, f"five reports, got {sink.reports}")
        check(all(b == (2, "smg") for b in sink.binds), "the SMG binds to the SP with login type 2")
        by_seq = {rep["submit_seq"][2]: rep for rep in sink.reports}
        check(by_seq[2]["state"] == 0 and by_seq[2]["user"] == "8613012345678", "report of the short one")
        check(by_seq[20]["state"] == 2 and by_seq[20]["error"] == 29, "failing number reported 2/29")
        check(set(by_seq) == {2, 10, 11, 12, 20}, "one report per submit, none for the resend")
        js = lines(j)
        msgs = [l for l in js if l.get("event") == "message"]
        check([m["text"] for m in msgs if m["parts"] == 3] == [long_text], "long text reassembled")
        check(sum(1 for l in js if l.get("duplicate")) == 1, "the resend journalled as duplicate")
        sub = next(l for l in js if l.get("cmd") == "submit")
        check(sub["service_type"] == "RECEIPT" and sub["corp_id"] == "12345" and sub["coding"] == 8,
              "fields journalled")

        # A wrong password: Result 1 and the connection closed.
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(bind("ereceipt", "wrong"))
        check((await answer(r))[2][0] == 1, "wrong password refused with 1")
        check(await r.read() == b"", "closed after a refused bind")
        # A frame whose length is below the header's: the connection is closed.
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(head(12, 1, (1, 2, 3)))
        check(await r.read() == b"", "a bad length closes the connection")
        await until(lambda: any(l.get("event") == "frame-error" for l in lines(j)), "frame error journalled")
    finally:
        proc.kill()

    # Faults: throttle, then garbage, then drop.
    j = os.path.join(tmp, "faults.jsonl")
    proc, port = start(j, sink_port, "throttle:1", "garbage:2", "drop:3")
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(bind("ereceipt", "secret"))
        await answer(r)
        w.write(submit("8613012345678", "a", (3010012345, 1203120000, 40)))
        check((await answer(r))[2][0] == 11, "throttled submit answered 11")
        w.write(submit("8613012345678", "b", (3010012345, 1203120000, 41)))
        h = await r.readexactly(8)
        check(int.from_bytes(h[:4], "big") == 9, "garbage answer has length 9")
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(bind("ereceipt", "secret"))
        await answer(r)
        w.write(submit("8613012345678", "c", (3010012345, 1203120000, 42)))
        check(await r.read() == b"", "the third submit's connection dropped unanswered")
    finally:
        proc.kill()
    server.close()
    print(f"sgip_gateway selftest: {checks} checks passed")


asyncio.run(main())
