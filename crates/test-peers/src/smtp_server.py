"""A loopback SMTP server for the email delivery tests, built on aiosmtpd.

Binds 127.0.0.1 on a free port, prints the port as the first line of stdout once it listens,
then serves until killed. Each accepted message is saved in --maildir as NNNN.eml (the bytes
as received) beside NNNN.json (envelope, TLS version, AUTH login). Recipients whose local part
starts with "tempfail" are refused with 451, those starting with "reject" with 550.

With --hold N, the first N messages are held after their data arrived: the server writes
HNNNN.held and never answers; when the client goes away the message is dropped unaccepted, as an
MTA does when the connection breaks before its final reply (RFC 5321 4.1.1.4).
"""

import argparse
import asyncio
import json
import logging
import os
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, maildir, hold):
        self.maildir = maildir
        self.count = 0
        self.hold = hold
        self.held = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        if local.startswith("tempfail"):
            return "451 4.2.1 Mailbox busy, try again later"
        if local.startswith("reject"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.held < self.hold:
            self.held += 1
            write(os.path.join(self.maildir, f"H{self.held:04d}.held"), envelope.original_content)
            # Cancelled by aiosmtpd when the connection is lost; nothing is saved then.
            await asyncio.Event().wait()
        self.count += 1
        name = f"{self.count:04d}"
        tls = server.transport.get_extra_info("ssl_object") if server.transport else None
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": tls.version() if tls else None,
            "auth": login,
        }
        # The .eml appears last and whole, so a reader never sees half a message.
        write(os.path.join(self.maildir, name + ".json"), json.dumps(meta).encode())
        write(os.path.join(self.maildir, name + ".eml"), envelope.original_content)
        return f"250 2.0.0 Ok: queued as Q{name}"


def write(path, data):
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    return check


async def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--maildir", required=True)
    p.add_argument("--tls", choices=["none", "starttls", "implicit"], default="none")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user", help="require AUTH (over TLS) with this user and --password")
    p.add_argument("--password")
    p.add_argument("--verbose", action="store_true", help="log sessions and their errors")
    p.add_argument("--port", type=int, default=0, help="listen on this port (default: any free one)")
    p.add_argument("--hold", type=int, default=0, help="hold the first N messages unanswered")
    a = p.parse_args()
    # Refused handshakes and the like are what some tests provoke: quiet unless asked.
    logging.basicConfig(level=logging.INFO if a.verbose else logging.CRITICAL)
    # aiosmtpd itself still sets the attribute it deprecated.
    warnings.filterwarnings("ignore", message="Session.login_data is deprecated")

    context = None
    if a.tls != "none":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(a.cert, a.key)
    handler = Handler(a.maildir, a.hold)
    options = {"hostname": "smtp.test"}
    if a.tls == "starttls":
        options.update(tls_context=context, require_starttls=True)
    if a.user:
        options.update(authenticator=authenticator(a.user, a.password), auth_required=True)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, **options),
        host="127.0.0.1",
        port=a.port,
        ssl=context if a.tls == "implicit" else None,
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
