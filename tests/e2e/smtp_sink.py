"""A real SMTP server for the email tests (Debian's python3-aiosmtpd).

    smtp_sink.py --port 0 --dir DIR --mode-file FILE [--auth USER:PASSWORD]

Prints `PORT <n>` once listening. Every accepted message is written to DIR
as its own .eml file (temp file + rename). The mode file, read at every
transaction, makes the server misbehave on demand:

    accept   250 (default)
    451      a temporary failure at DATA
    554      a permanent rejection at DATA
    stall    accept the connection, then never answer DATA
    store-stall  store the message, then never answer DATA: the message has
             arrived but the client never hears so (the at-least-once window)

With --auth the server requires SMTP AUTH (PLAIN/LOGIN, allowed without TLS
on this loopback test server) and refuses other credentials with 535.
"""

import argparse
import asyncio
import os
import signal
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult


class Sink:
    def __init__(self, directory, mode_file):
        self.directory = directory
        self.mode_file = mode_file
        self.count = 0

    def mode(self):
        try:
            with open(self.mode_file) as f:
                return f.read().strip() or "accept"
        except FileNotFoundError:
            return "accept"

    async def handle_DATA(self, server, session, envelope):
        mode = self.mode()
        if mode == "451":
            return "451 4.3.0 Temporary failure, try again later"
        if mode == "554":
            return "554 5.7.1 Message refused"
        if mode == "stall":
            await asyncio.sleep(3600)
        self.store(envelope)
        if mode == "store-stall":
            await asyncio.sleep(3600)
        return "250 2.0.0 OK"

    def store(self, envelope):
        self.count += 1
        name = "%d-%d-%d.eml" % (time.time_ns(), os.getpid(), self.count)
        tmp = os.path.join(self.directory, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(("X-Envelope-From: %s\r\nX-Envelope-To: %s\r\n" %
                     (envelope.mail_from, ",".join(envelope.rcpt_tos))).encode())
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(self.directory, name))


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--mode-file", required=True)
    parser.add_argument("--auth", default="")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    sink = Sink(args.dir, args.mode_file)
    loop = asyncio.get_running_loop()
    options = {"hostname": "sink.test", "data_size_limit": 10 << 20}
    if args.auth:
        user, _, password = args.auth.partition(":")

        def check(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == user and auth_data.password.decode() == password
            return AuthResult(success=ok, handled=False)

        options.update(auth_required=True, auth_require_tls=False, authenticator=check)
    server = await loop.create_server(lambda: SMTP(sink, **options), host="127.0.0.1", port=args.port,
                                      reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    print("PORT %d" % port, flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
