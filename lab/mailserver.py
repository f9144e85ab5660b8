"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it receives.

aiosmtpd's Controller runs the server in a thread of its own with its own event loop, so
an apprise sender (which talks SMTP from a worker thread) meets a real server that answers
independently of the test's loop. With `user`/`password` it requires SMTP AUTH (LOGIN or
PLAIN, without TLS on loopback), so a test proves the credentials in the URL were used.
"""

from __future__ import annotations

import email
import threading
from dataclasses import dataclass
from email.policy import default as default_policy
from typing import Optional

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from lab.support import free_port


@dataclass(frozen=True)
class ReceivedMail:
    sender: str
    recipients: tuple[str, ...]
    subject: str
    body: str
    login: Optional[str]  # the SMTP AUTH user of the session, None without AUTH
    attachments: tuple[tuple[str, bytes], ...] = ()  # (file name, content) of each attached file


class MailServer:
    def __init__(self, user: Optional[str] = None, password: Optional[str] = None) -> None:
        self.user, self.password = user, password
        self.port = 0
        self.messages: list[ReceivedMail] = []
        self.refused_logins = 0
        self._lock = threading.Lock()
        self._controller: Optional[Controller] = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def start(self) -> "MailServer":
        self.port = free_port()
        self._controller = Controller(
            self, hostname="127.0.0.1", port=self.port, server_hostname="mail.test",
            authenticator=self._authenticate if self.user else None,
            auth_required=bool(self.user), auth_require_tls=False)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def received(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self.messages)

    # -- aiosmtpd handler hooks ----------------------------------------------------------------

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == self.user
              and auth_data.password.decode() == self.password)
        if not ok:
            with self._lock:
                self.refused_logins += 1
        return AuthResult(success=ok, auth_data=auth_data if ok else None)

    async def handle_DATA(self, server, session, envelope) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=default_policy)
        part = parsed.get_body(preferencelist=("plain", "html"))
        body = part.get_content() if part is not None else ""
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        attachments = tuple((attachment.get_filename() or "", attachment.get_payload(decode=True))
                            for attachment in parsed.iter_attachments())
        with self._lock:
            self.messages.append(ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos), str(parsed["subject"]),
                                              body, login, attachments))
        return "250 Message accepted for delivery"


MAIL_USER, MAIL_PASSWORD = "netvigil", "Sm7p-pa55word-xyz"


@pytest.fixture
def mailserver() -> MailServer:
    """An SMTP server requiring AUTH as MAIL_USER / MAIL_PASSWORD."""
    server = MailServer(MAIL_USER, MAIL_PASSWORD).start()
    yield server
    server.stop()
