#!/usr/bin/env python3
"""An SMTP server (aiosmtpd, Debian's python3-aiosmtpd) that delivers into one Maildir.

    python3 smtp-to-maildir.py --node a --host 127.0.0.2 --port 2525 \
        --maildir /tmp/mail/Maildir --user alice

It accepts mail for <user@any domain> only and files each message in the Maildir with
Python's mailbox.Maildir, under a Received: line naming this node, as a real MTA would.
Dovecot serves IMAP and POP3 from the same Maildir, so a message sent through one node is
read back through any node. start-servers.mjs starts two of these (nodes a and b).
"""
import argparse
import asyncio
import mailbox
import signal
import sys
from email.utils import formatdate

from aiosmtpd.smtp import SMTP


class DeliverToMaildir:
    """aiosmtpd handler: RCPT checks the local part, DATA files the message."""

    def __init__(self, maildir: mailbox.Maildir, node: str, user: str) -> None:
        self.maildir = maildir
        self.node = node
        self.user = user

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.split('@', 1)[0].lower() != self.user:
            return f'550 5.1.1 <{address}>: no such user here (only {self.user})'
        envelope.rcpt_tos.append(address)
        return '250 2.1.5 OK'

    async def handle_DATA(self, server, session, envelope):
        received = (
            f'Received: from {session.host_name or "unknown"} ([{session.peer[0]}])\n'
            f'\tby mail-{self.node} (aiosmtpd) for <{envelope.rcpt_tos[0]}>;\n'
            f'\t{formatdate(localtime=True)}\n'
        )
        # SMTP carries CRLF lines; a Maildir on Unix holds LF lines (Dovecot expects that).
        content = envelope.original_content.replace(b'\r\n', b'\n')
        key = self.maildir.add(received.encode() + content)
        print(f'node {self.node}: delivered {key} for {", ".join(envelope.rcpt_tos)}', flush=True)
        return f'250 2.0.0 OK delivered by mail node {self.node}'


async def serve(args: argparse.Namespace) -> None:
    maildir = mailbox.Maildir(args.maildir, create=True)
    handler = DeliverToMaildir(maildir, args.node, args.user)
    loop = asyncio.get_running_loop()
    # The greeting names the node ("220 mail-a ESMTP ..."), so `curl -v` shows who answered.
    server = await loop.create_server(
        lambda: SMTP(handler, hostname=f'mail-{args.node}', ident=f'ESMTP mail node {args.node}'),
        args.host,
        args.port,
    )
    print(f'smtp node {args.node} listening on {args.host}:{args.port}', flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--node', required=True, help='node id, shown in the greeting')
    parser.add_argument('--host', required=True)
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--maildir', required=True)
    parser.add_argument('--user', default='alice', help='the one local part mail is accepted for')
    args = parser.parse_args()
    try:
        asyncio.run(serve(args))
    except OSError as err:
        print(f'smtp node {args.node} cannot listen on {args.host}:{args.port}: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
