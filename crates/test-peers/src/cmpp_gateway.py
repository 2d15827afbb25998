"""An independent CMPP 3.0 gateway (ISMG, China Mobile) for the platform's tests.

Layouts from the CMPP 3.0 text (CMPP_CONNECT, CMPP_SUBMIT, CMPP_DELIVER and their responses, the
status report inside Msg_Content), decoded with `struct`; the server, journal and fault modes are in
carrier_gateway.py. Checks AuthenticatorSource = MD5(Source_Addr + 9 NULs + secret + Timestamp as
10 digits), answers with AuthenticatorISMG = MD5(Status + AuthenticatorSource + secret), gives
64-bit Msg_Ids (month, day, hour, minute, second, gateway code, sequence), and reports each
submit by a CMPP_DELIVER with Registered_Delivery = 1. Prints `LISTENING <port>` once bound.
"""

import datetime
import hashlib
import struct
import sys

sys.dont_write_bytecode = True

from carrier_gateway import main  # noqa: E402

CONNECT = struct.Struct(">6s16sBI")
SUBMIT_HEAD = struct.Struct(">QBBBB10sB32sBBBB6s2s6s17s17s21sB")
GATEWAY_CODE = 0x12345


def text(b):
    return b.split(b"\0", 1)[0].decode("ascii", errors="replace")


class Cmpp:
    LOGIN, SUBMIT, DELIVER, ACTIVE_TEST, EXIT = 0x1, 0x4, 0x5, 0x8, 0x2
    OK, THROTTLED, AUTH_FAILED = 0, 8, 3  # 8 流量控制错 (submit), 3 认证错 (connect)

    def __init__(self):
        self.counter = 0

    def login(self, body):
        source, auth, version, ts = CONNECT.unpack(body[:CONNECT.size])
        return dict(account=text(source), authenticator=auth, version=version, timestamp=ts)

    def check_login(self, f, secret):
        want = hashlib.md5(f["account"].encode() + b"\0" * 9 + secret.encode() +
                           b"%010d" % f["timestamp"]).digest()
        return want == f["authenticator"] and f["version"] == 0x30

    def login_resp(self, status, auth_source, secret):
        auth = hashlib.md5(struct.pack(">I", status) + auth_source + secret.encode()).digest()
        return struct.pack(">I16sB", status, auth, 0x30)

    def submit(self, body):
        (msg_id, pk_total, pk_number, registered, level, service_id, fee_user_type, fee_terminal,
         fee_terminal_type, tp_pid, tp_udhi, msg_fmt, msg_src, fee_type, fee_code, valid_time, at_time,
         src, count) = SUBMIT_HEAD.unpack_from(body)
        at = SUBMIT_HEAD.size
        dests = [text(body[at + 32 * i:at + 32 * (i + 1)]) for i in range(count)]
        at += 32 * count
        dest_type, length = body[at], body[at + 1]
        content = body[at + 2:at + 2 + length]
        link_id = body[at + 2 + length:at + 22 + length]
        return dict(msg_id_in=msg_id, pk_total=pk_total, pk_number=pk_number, need_report=registered,
                    msg_level=level, service_id=text(service_id), fee_user_type=fee_user_type,
                    fee_terminal=text(fee_terminal), fee_terminal_type=fee_terminal_type, tp_pid=tp_pid,
                    udhi=tp_udhi, msg_format=msg_fmt, msg_src=text(msg_src), fee_type=text(fee_type),
                    fee_code=text(fee_code), valid_time=text(valid_time), at_time=text(at_time), src=text(src),
                    dest=dests[0] if dests else "", dests=dests, dest_type=dest_type, content=content,
                    link_id_len=len(link_id))

    def new_msg_id(self):
        self.counter += 1
        n = datetime.datetime.now()
        value = ((n.month << 60) | (n.day << 55) | (n.hour << 50) | (n.minute << 44) | (n.second << 38) |
                 (GATEWAY_CODE << 16) | (self.counter & 0xFFFF))
        return struct.pack(">Q", value), str(value)

    def empty_msg_id(self):
        return b"\0" * 8

    def submit_resp(self, msg_id, status):
        return msg_id + struct.pack(">I", status)

    def report_deliver(self, submit, msg_id, stat):
        stamp = datetime.datetime.now().strftime("%y%m%d%H%M").encode()
        report = (msg_id + stat.encode().ljust(7, b"\0")[:7] + stamp + stamp +
                  submit["dest"].encode().ljust(32, b"\0") + struct.pack(">I", self.counter))
        own_id, _ = self.new_msg_id()
        return (own_id + submit["src"].encode().ljust(21, b"\0") + submit["service_id"].encode().ljust(10, b"\0") +
                struct.pack(">BBB", 0, 0, 0) + submit["dest"].encode().ljust(32, b"\0") +
                struct.pack(">BBB", 0, 1, len(report)) + report + b"\0" * 20)

    def deliver_resp(self, body):
        msg_id, result = struct.unpack(">QI", body[:12])
        return dict(msg_id=str(msg_id), status=result)

    def active_test_resp(self):
        return b"\0"


if __name__ == "__main__":
    main(Cmpp(), __doc__)
