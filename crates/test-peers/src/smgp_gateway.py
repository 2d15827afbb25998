"""An independent SMGP 3.0 gateway (China Telecom) for the platform's tests.

Layouts from the SMGP 3.0 text (field tables of Login, Submit, Deliver and their responses, the
TLVs of section 6.3 and the status report of appendix 1), decoded with `struct`; the server,
journal and fault modes are in carrier_gateway.py. Checks AuthenticatorClient = MD5(ClientID +
7 NULs + secret + TimeStamp as 10 digits), answers Login with AuthenticatorServer = MD5(Status +
AuthenticatorClient + secret), gives 10-octet BCD MsgIDs, and reports each submit by a Deliver with
IsReport = 1. Prints `LISTENING <port>` once bound.
"""

import datetime
import hashlib
import struct
import sys

sys.dont_write_bytecode = True

from carrier_gateway import main  # noqa: E402

LOGIN = struct.Struct(">8s16sBIB")
SUBMIT_HEAD = struct.Struct(">BBB10s2s6s6sB17s17s21s21sB")
TLV_NAMES = {0x0001: "tp_pid", 0x0002: "tp_udhi", 0x0003: "link_id", 0x0009: "pk_total", 0x000A: "pk_number",
             0x0010: "msg_src"}


def text(b):
    return b.split(b"\0", 1)[0].decode("ascii", errors="replace")


class Smgp:
    LOGIN, SUBMIT, DELIVER, ACTIVE_TEST, EXIT = 0x1, 0x2, 0x3, 0x4, 0x6
    OK, THROTTLED, AUTH_FAILED = 0, 1, 21  # 1 系统忙 (busy: SMGP's flow control), 21 认证错

    def __init__(self):
        self.counter = 0

    def login(self, body):
        client_id, auth, mode, ts, version = LOGIN.unpack(body[:LOGIN.size])
        return dict(account=text(client_id), authenticator=auth, login_mode=mode, timestamp=ts,
                    version=version)

    def check_login(self, f, secret):
        want = hashlib.md5(f["account"].encode() + b"\0" * 7 + secret.encode() +
                           b"%010d" % f["timestamp"]).digest()
        return want == f["authenticator"] and f["version"] == 0x30

    def login_resp(self, status, auth_client, secret):
        auth = hashlib.md5(struct.pack(">I", status) + auth_client + secret.encode()).digest()
        return struct.pack(">I16sB", status, auth, 0x30)

    def submit(self, body):
        (msg_type, need_report, priority, service_id, fee_type, fee_code, fixed_fee, msg_format,
         valid_time, at_time, src, charge, count) = SUBMIT_HEAD.unpack_from(body)
        at = SUBMIT_HEAD.size
        dests = [text(body[at + 21 * i:at + 21 * (i + 1)]) for i in range(count)]
        at += 21 * count
        length = body[at]
        content = body[at + 1:at + 1 + length]
        at += 1 + length + 8  # Reserve
        tlvs = {}
        while at + 4 <= len(body):
            tag, size = struct.unpack_from(">HH", body, at)
            value = body[at + 4:at + 4 + size]
            tlvs[TLV_NAMES.get(tag, f"tag_{tag:04x}")] = value[0] if size == 1 else value.hex()
            at += 4 + size
        return dict(msg_type=msg_type, need_report=need_report, priority=priority, service_id=text(service_id),
                    fee_type=text(fee_type), fee_code=text(fee_code), fixed_fee=text(fixed_fee),
                    msg_format=msg_format, valid_time=text(valid_time), at_time=text(at_time), src=text(src),
                    charge=text(charge), dest=dests[0] if dests else "", dests=dests, content=content,
                    udhi=tlvs.get("tp_udhi", 0), pk_total=tlvs.get("pk_total"), pk_number=tlvs.get("pk_number"),
                    tlvs=tlvs)

    def new_msg_id(self):
        """BCD: SMGW code (6 digits), MMDDHHMM, sequence (6 digits)."""
        self.counter += 1
        digits = "123456" + datetime.datetime.now().strftime("%m%d%H%M") + "%06d" % self.counter
        return bytes.fromhex(digits), digits

    def empty_msg_id(self):
        return b"\0" * 10

    def submit_resp(self, msg_id, status):
        return msg_id + struct.pack(">I", status)

    def report_deliver(self, submit, msg_id, stat):
        now = datetime.datetime.now()
        stamp = now.strftime("%y%m%d%H%M").encode()
        report = (b"id:" + msg_id + b" sub:001 dlvrd:001 Submit date:" + stamp + b" done date:" + stamp +
                  b" stat:" + stat.encode().ljust(7, b"\0")[:7] + b" err:" +
                  (b"000" if stat == "DELIVRD" else b"006") + b" Text:" + b"\0" * 20)
        self.counter += 1
        own_id = bytes.fromhex("123456" + now.strftime("%m%d%H%M") + "%06d" % self.counter)
        return (own_id + struct.pack(">BB", 1, 0) + now.strftime("%Y%m%d%H%M%S").encode() +
                submit["dest"].encode().ljust(21, b"\0") + submit["src"].encode().ljust(21, b"\0") +
                struct.pack(">B", len(report)) + report + b"\0" * 8)

    def deliver_resp(self, body):
        msg_id, status = struct.unpack(">10sI", body[:14])
        return dict(msg_id=msg_id.hex(), status=status)

    def active_test_resp(self):
        return b""


if __name__ == "__main__":
    main(Smgp(), __doc__)
