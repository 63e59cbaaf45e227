"""An aiosmtpd handler that answers the first N messages with a temporary
failure (451) and then delivers into a Maildir like aiosmtpd's Mailbox:
the failing SMTP server of the notification tests.

    python -m aiosmtpd -n -l 127.0.0.1:PORT -c smtp_tempfail.FailFirst MAILDIR N
"""

from aiosmtpd.handlers import Mailbox


class FailFirst(Mailbox):
    def __init__(self, mail_dir, failures):
        super().__init__(mail_dir)
        self.left = failures

    async def handle_DATA(self, server, session, envelope):
        if self.left > 0:
            self.left -= 1
            print("answered 451", flush=True)
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        return await super().handle_DATA(server, session, envelope)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 2:
            parser.error("FailFirst takes MAILDIR and N")
        return cls(args[0], int(args[1]))
