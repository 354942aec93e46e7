"""The email channel against a real SMTP server (aiosmtpd) on 127.0.0.1.

Every server runs in a controller thread that the fixture stops; every client has a
short timeout. The STARTTLS and implicit-TLS tests use a throwaway self-signed
certificate made with the ``openssl`` command.
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import importlib.metadata
import shutil
import smtplib
import socket
import sqlite3
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from click.testing import CliRunner
from qiflow import (
    DeliveryError,
    Engine,
    Item,
    ManualClock,
    Notification,
    Person,
    get_plugin_manager,
)
from qiflow.cli import main
from qiflow.config import load_settings
from qiflow.exceptions import ConfigError
from qiflow.notify.delivery import DeliverySettings, message_key
from qiflow.notify.reminders import ReminderPolicy

from qiflow_email.plugin import EmailChannel, EmailConfigError, qiflow_channels

SENDER = "QI team <qi.team@example.org>"
USER, PASSWORD = "qi-daemon", "s3cret-Pa55word"
TIMEOUT = 5.0


# a real SMTP server ------------------------------------------------------------------
@dataclass
class Recorder:
    """An aiosmtpd handler that keeps every message; it can answer MAIL, RCPT or DATA
    with an error (``data_replies`` are used in turn, then messages are accepted)."""

    mail_reply: str | None = None
    rcpt_reply: str | None = None
    data_replies: list[str] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)  # accepted
    refused: list[Envelope] = field(default_factory=list)  # received, then answered 4xx/5xx

    async def handle_MAIL(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.data_replies:
            self.refused.append(envelope)
            return self.data_replies.pop(0)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def only(self) -> tuple[Envelope, EmailMessage]:
        assert len(self.envelopes) == 1
        return self.envelopes[0], parse(self.envelopes[0])


def parse(envelope: Envelope) -> EmailMessage:
    """The message as a receiver reads it (and it has CRLF line ends only)."""
    assert isinstance(envelope.content, bytes)
    assert b"\r\n" in envelope.content
    assert b"\n" not in envelope.content.replace(b"\r\n", b"")
    unix = envelope.content.replace(b"\r\n", b"\n").decode("utf-8")  # UTF-8 only with SMTPUTF8
    parsed = email.message_from_string(unix, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parts(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML parts' text; every message has exactly these two."""
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.iter_parts()
    assert isinstance(plain, EmailMessage)
    assert isinstance(html, EmailMessage)
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    return plain.get_content(), html.get_content()


def plain_text(message: EmailMessage) -> str:
    return parts(message)[0]


FOOTER = (
    "\n-- \nWhy you got this: qiflow's notification routing sends you this kind of message.\n"
    "Sent by qiflow, the trust's quality improvement project system.\n"
)


@dataclass
class Authenticator:
    """Accepts USER with PASSWORD; records each attempt's mechanism and outcome."""

    failure_reply: str | None = None
    attempts: list[tuple[str, bool]] = field(default_factory=list)

    def __call__(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == USER.encode()
            and data.password == PASSWORD.encode()
        )
        self.attempts.append((mechanism, ok))
        # handled=False: aiosmtpd answers (535 by default); handled=True would answer nothing
        return AuthResult(success=ok, handled=False, message=None if ok else self.failure_reply)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


Serve = Callable[..., Controller]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start aiosmtpd controllers on free ports; every one is stopped afterwards.

    (aiosmtpd 1.4 cannot listen on port 0: it connects to its own port to start.)
    """
    started: list[Controller] = []

    def start(handler: Recorder, **kwargs: Any) -> Controller:
        controller = Controller(
            handler, hostname="127.0.0.1", port=free_port(), ready_timeout=TIMEOUT, **kwargs
        )
        controller.start()
        started.append(controller)
        return controller

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def raw_server() -> Iterator[Callable[[bytes], int]]:
    """A one-connection server that sends ``greeting``, reads one line and hangs up."""
    threads: list[threading.Thread] = []
    listeners: list[socket.socket] = []

    def start(greeting: bytes) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(TIMEOUT)
        listeners.append(listener)

        def run() -> None:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(TIMEOUT)
                connection.sendall(greeting)
                with contextlib.suppress(OSError):
                    connection.recv(1024)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
        port: int = listener.getsockname()[1]
        return port

    yield start
    for listener in listeners:
        listener.close()
    for thread in threads:
        thread.join(TIMEOUT)


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, valid for a day."""
    openssl = shutil.which("openssl")
    assert openssl, "these tests need the openssl command to make a test certificate"
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return Certificate(cert, key)


def plain(controller: Controller, **kwargs: Any) -> EmailChannel:
    """A channel without TLS or login, for a plain local server."""
    return EmailChannel(
        "127.0.0.1", controller.port, sender=SENDER, starttls=False, timeout=TIMEOUT, **kwargs
    )


def notification(**changes: Any) -> Notification:
    values: dict[str, Any] = {
        "key": "qiflow-0123456789abcdef0123456789abcdef",
        "channel": "email",
        "recipient": "a.jones",
        "name": "Ann Jones",
        "address": "ann.jones@example.org",
        "subject": "QI-0001 review is overdue",
        "body": "The monthly review of QI-0001 was due on 1 March.\nRecord it with qiflow.",
        "items": (),
    }
    values.update(changes)
    return Notification(**values)


def failure(channel: EmailChannel, n: Notification) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        channel.send(n)
    return caught.value


# delivery ------------------------------------------------------------------------------
def test_delivers_one_message_with_the_key_as_message_id(serve: Serve) -> None:
    handler = Recorder()
    n = notification()
    plain(serve(handler)).send(n)

    envelope, message = handler.only()
    assert envelope.mail_from == "qi.team@example.org"
    assert envelope.rcpt_tos == ["ann.jones@example.org"]
    assert message["From"] == SENDER
    assert message["To"] == "Ann Jones <ann.jones@example.org>"
    assert message["Subject"] == "QI-0001 review is overdue"
    assert message["Message-ID"] == f"<{n.key}@qiflow>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"].datetime.tzinfo is not None
    assert plain_text(message) == n.body + "\n" + FOOTER


def test_a_repeat_after_a_4xx_carries_the_same_message_id(serve: Serve) -> None:
    """The server takes the message but answers 451: qiflow sends it again, same ID."""
    handler = Recorder(data_replies=["451 4.3.0 Queue trouble, try later"])
    channel = plain(serve(handler))
    error = failure(channel, notification())
    assert not error.permanent
    channel.send(notification())  # the retry

    first, second = handler.refused[0], handler.envelopes[0]
    assert parse(first)["Message-ID"] == parse(second)["Message-ID"]
    assert parse(second)["Message-ID"] == f"<{notification().key}@qiflow>"


def test_a_digest_lists_every_item(serve: Serve) -> None:
    handler = Recorder()
    items = (
        Item("reminder", None, "QI-0001 review is overdue", "Due 1 March."),
        Item("escalation", "QI-0002", "QI-0002 has had no review for 90 days", "Line 1\nLine 2"),
        Item("reminder", None, "QI-0003 review is due", ""),
    )
    plain(serve(handler)).send(
        notification(subject="3 QI project items need your attention", items=items)
    )

    _, message = handler.only()
    assert message["Subject"] == "3 QI project items need your attention"
    assert plain_text(message) == (
        "3 items need your attention:\n"
        "\n"
        "1. QI-0001 review is overdue\n"
        "   Due 1 March.\n"
        "\n"
        "2. QI-0002 has had no review for 90 days\n"
        "   Line 1\n"
        "   Line 2\n"
        "\n"
        "3. QI-0003 review is due\n" + FOOTER
    )


def test_non_ascii_name_subject_and_body(serve: Serve) -> None:
    handler = Recorder()
    name, subject = "Siân Ó Briain, Ward 7", "Revisión atrasada: QI-0001 — ✔"
    plain(serve(handler)).send(notification(name=name, subject=subject, body="Café ☕\n"))

    envelope, message = handler.only()
    assert envelope.rcpt_tos == ["ann.jones@example.org"]
    assert isinstance(envelope.content, bytes)
    assert envelope.content.isascii()  # no SMTPUTF8 needed: names and subject are encoded
    (to,) = message["To"].addresses
    assert (to.display_name, to.addr_spec) == (name, "ann.jones@example.org")
    assert message["Subject"] == subject
    assert plain_text(message) == "Café ☕\n" + FOOTER


LONG_LINK = "https://intranet.example.nhs.uk/qi/" + "x" * 1_000


def header_lines(envelope: Envelope) -> list[bytes]:
    """The raw header lines as the server received them (before the blank line)."""
    assert isinstance(envelope.content, bytes)
    head = envelope.content.split(b"\r\n\r\n", 1)[0]
    return head.split(b"\r\n")


@pytest.mark.parametrize(
    "title",
    [
        LONG_LINK,
        "Réduire les chutes " + "é" * 1_000,  # a non-ASCII run
        "Falls " + "-" * 2_000 + " prevention",
    ],
)
def test_a_long_unbroken_word_in_a_title_is_delivered_within_the_line_limit(
    serve: Serve, title: str
) -> None:
    """RFC 5322 2.1.1: no line over 998 characters; a server that keeps to the limit
    (aiosmtpd does) answers 500 Line too long, and the reminder would be a dead letter."""
    handler = Recorder()
    subject = f"QI-0001 review due 01 Mar 2026: {title}"
    body = f"The review of QI-0001 ({title}) was due on 01 Mar 2026."
    plain(serve(handler)).send(notification(subject=subject, name="N" * 500, body=body))

    envelope, message = handler.only()
    assert max(len(line) for line in header_lines(envelope)) <= 998
    assert max(len(line) for line in envelope.content.split(b"\r\n")) <= 998
    shown = message["Subject"]
    assert shown.startswith("QI-0001 review due 01 Mar 2026: ")  # what and when survive
    assert shown.endswith("…")
    assert len(shown) <= 160
    assert title[:40] in shown


def test_a_short_subject_is_not_shortened(serve: Serve) -> None:
    handler = Recorder()
    subject = "QI-0001 review due 01 Mar 2026: " + "Safer night observations on ward 7 " * 3
    plain(serve(handler)).send(notification(subject=subject))

    _, message = handler.only()
    assert message["Subject"] == subject.strip()


class Tags(HTMLParser):
    """Every start tag with its attributes, as a browser's parser meets them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


BASE = "https://qi.example.nhs.uk"
SPONSOR_RULE = "sponsor escalation: you sponsor this project and its review is overdue"


def test_plain_and_html_parts_link_to_the_project_and_name_the_rule(serve: Serve) -> None:
    handler = Recorder()
    due = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)  # 00:30 on 2 June in London (BST)
    item = Item(
        "escalation",
        "QI-0007",
        "QI-0007 review overdue",
        "Overdue since 1 June.",
        rule=SPONSOR_RULE,
        due=due,
        project_title="Falls",
    )
    n = notification(subject=item.subject, body=item.body, items=(item,))
    plain(serve(handler), base_url=BASE + "/").send(n)

    _, message = handler.only()
    text, html = parts(message)
    assert text == (
        "Overdue since 1 June.\n"
        "\n"
        "Due: Tue 2 Jun 2026, 00:30 BST\n"
        "\n"
        f"Open QI-0007: {BASE}/projects/QI-0007\n"
        "\n"
        "-- \n"
        f"Why you got this: {SPONSOR_RULE}.\n"
        "Sent by qiflow, the trust's quality improvement project system.\n"
    )
    assert (
        "a",
        {"href": f"{BASE}/projects/QI-0007", "style": "color:#005eb8;text-decoration:underline"},
    ) in tags(html)
    assert "Due: Tue 2 Jun 2026, 00:30 BST" in html
    assert f"Why you got this: {SPONSOR_RULE}." in html
    assert "#005eb8" in html  # NHS blue


def test_the_html_part_escapes_every_text_and_fetches_nothing(serve: Serve) -> None:
    handler = Recorder()
    hostile = '<script>alert(1)</script><img src="https://evil.example/t.png"> & "q"'
    item = Item(
        "reminder",
        "QI-0009",
        f"QI-0009 review due: {hostile}",
        hostile,
        rule=f"owner reminder {hostile}",
        project_title=hostile,
    )
    plain(serve(handler), base_url=BASE).send(
        notification(subject=item.subject, body=item.body, items=(item,), name=hostile)
    )

    _, message = handler.only()
    _, html = parts(message)
    found = tags(html)
    assert {tag for tag, _ in found} <= {
        "html",
        "head",
        "meta",
        "title",
        "body",
        "div",
        "h1",
        "p",
        "br",
        "a",
        "hr",
    }
    assert [a["href"] for tag, a in found if tag == "a"] == [f"{BASE}/projects/QI-0009"]
    assert not any("src" in attrs for _, attrs in found)
    assert "url(" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=&quot;" in html
    assert "&amp;" in html


def test_a_digest_names_each_rule_once_and_links_each_item(serve: Serve) -> None:
    handler = Recorder()
    items = (
        Item("reminder", "QI-0001", "QI-0001 review due", "", rule="owner reminder: a"),
        Item("escalation", "QI-0002", "QI-0002 overdue", "", rule=SPONSOR_RULE),
        Item("reminder", "QI-0003", "QI-0003 review due", "", rule="owner reminder: a"),
    )
    plain(serve(handler), base_url=BASE).send(notification(subject="3 items", items=items))

    _, message = handler.only()
    text, html = parts(message)
    assert text.endswith(
        "-- \nWhy you got this:\n"
        f"- owner reminder: a\n- {SPONSOR_RULE}\n"
        "Sent by qiflow, the trust's quality improvement project system.\n"
    )
    for ref in ("QI-0001", "QI-0002", "QI-0003"):
        assert f"   Open: {BASE}/projects/{ref}\n" in text
    assert [a["href"] for tag, a in tags(html) if tag == "a"] == [
        f"{BASE}/projects/{ref}" for ref in ("QI-0001", "QI-0002", "QI-0003")
    ]


def test_no_links_without_a_base_url(serve: Serve) -> None:
    handler = Recorder()
    item = Item("reminder", "QI-0001", "QI-0001 review due", "Due.", rule="owner reminder: a")
    plain(serve(handler)).send(notification(items=(item,)))

    _, message = handler.only()
    text, html = parts(message)
    assert "http" not in text
    assert not [tag for tag, _ in tags(html) if tag == "a"]


def test_a_non_ascii_address_needs_smtputf8(serve: Serve) -> None:
    address = "siân.jones@example.org"
    refusing = Recorder()
    error = failure(plain(serve(refusing, enable_SMTPUTF8=False)), notification(address=address))
    assert error.permanent
    assert "internationalized email support" in str(error)
    assert refusing.envelopes == []

    handler = Recorder()
    plain(serve(handler, enable_SMTPUTF8=True)).send(notification(address=address))
    envelope, message = handler.only()
    assert envelope.rcpt_tos == [address]
    assert "SMTPUTF8" in envelope.mail_options
    (to,) = message["To"].addresses
    assert to.addr_spec == address


# header injection ----------------------------------------------------------------------
INJECTIONS = [
    "Hi\r\nBcc: evil@example.com",
    "Hi\nBcc: evil@example.com",
    "Hi\rBcc: evil@example.com",
    "Hi\r\n\r\nBcc: evil@example.com",
    "Hi\u2028Bcc: evil@example.com",
    "Hi\x85Bcc: evil@example.com",
    "Hé\r\nBcc: evil@example.com",
    "Hi,\r\n Bcc: evil@example.com",
]


def assert_not_injected(handler: Recorder) -> EmailMessage:
    envelope, message = handler.only()
    assert envelope.rcpt_tos == ["ann.jones@example.org"]
    assert message["Bcc"] is None
    assert message["Cc"] is None
    assert sorted(message.keys()) == sorted(
        [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "Auto-Submitted",
            "Content-Type",
            "MIME-Version",
        ]
    )
    (to,) = message["To"].addresses
    assert to.addr_spec == "ann.jones@example.org"
    assert not message.defects
    assert all(not header.defects for header in message.values())
    return message


@pytest.mark.parametrize("subject", INJECTIONS)
def test_a_line_break_in_the_subject_adds_no_header(serve: Serve, subject: str) -> None:
    handler = Recorder()
    plain(serve(handler)).send(notification(subject=subject))

    message = assert_not_injected(handler)
    assert "Bcc: evil@example.com" in message["Subject"]  # kept as text, on one line
    assert "\r" not in message["Subject"]
    assert "\n" not in message["Subject"]


@pytest.mark.parametrize(
    "name",
    [
        *INJECTIONS,
        "Jones, Ann",
        'Ann "Evil" <evil@example.com>',
        "Siân, Bcc: evil@example.com",  # Python 3.11's own folder would make this 2 addresses
        "evil@example.com,",
        "=?utf-8?q?evil=40example=2Ecom=2C?=",
    ],
)
def test_a_line_break_or_comma_in_the_name_adds_no_header_or_recipient(
    serve: Serve, name: str
) -> None:
    handler = Recorder()
    plain(serve(handler)).send(notification(name=name))

    message = assert_not_injected(handler)
    (to,) = message["To"].addresses
    assert "\n" not in to.display_name
    assert "\r" not in to.display_name


# failures ------------------------------------------------------------------------------
@pytest.mark.parametrize("address", [None, "", "   "])
def test_no_address_is_a_permanent_failure(serve: Serve, address: str | None) -> None:
    handler = Recorder()
    error = failure(plain(serve(handler)), notification(address=address))
    assert error.permanent
    assert "a.jones has no email address" in str(error)
    assert handler.envelopes == []


@pytest.mark.parametrize(
    "address",
    ["ann.jones", "ann@example.org\r\nBcc: evil@example.com", "a@b, evil@example.com", "<a@b>"],
)
def test_an_unusable_address_is_a_permanent_failure(serve: Serve, address: str) -> None:
    handler = Recorder()
    error = failure(plain(serve(handler)), notification(address=address))
    assert error.permanent
    assert handler.envelopes == []


def test_a_closed_port_is_retryable() -> None:
    channel = EmailChannel("127.0.0.1", free_port(), sender=SENDER, starttls=False, timeout=TIMEOUT)
    error = failure(channel, notification())
    assert not error.permanent
    assert "could not connect" in str(error)


def test_a_server_that_never_answers_times_out_and_is_retryable() -> None:
    with socket.socket() as listener:  # accepts the connection, never says hello
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        channel = EmailChannel("127.0.0.1", port, sender=SENDER, starttls=False, timeout=0.3)
        error = failure(channel, notification())
    assert not error.permanent
    assert "timed out" in str(error)


@pytest.mark.parametrize(
    ("handler", "permanent", "words"),
    [
        (Recorder(rcpt_reply="451 4.3.0 Try again later"), False, "refused the recipient: 451"),
        (Recorder(rcpt_reply="452 4.2.2 Mailbox full"), False, "refused the recipient: 452"),
        (Recorder(rcpt_reply="550 5.1.1 No such user"), True, "refused the recipient: 550"),
        (Recorder(data_replies=["421 4.3.2 Shutting down"]), False, "refused the message: 421"),
        (Recorder(data_replies=["554 5.7.1 Rejected"]), True, "refused the message: 554"),
        (Recorder(mail_reply="451 4.7.1 Greylisted"), False, "refused the sender: 451"),
        (Recorder(mail_reply="553 5.7.1 Not your domain"), True, "refused the sender: 553"),
    ],
    ids=["rcpt-451", "rcpt-452", "rcpt-550", "data-421", "data-554", "mail-451", "mail-553"],
)
def test_smtp_replies_map_4xx_to_retry_and_5xx_to_permanent(
    serve: Serve, handler: Recorder, permanent: bool, words: str
) -> None:
    error = failure(plain(serve(handler)), notification())
    assert error.permanent is permanent
    assert words in str(error)
    assert error.retry_after is None
    assert handler.envelopes == []


@pytest.mark.parametrize(
    ("greeting", "permanent", "words"),
    [
        (b"220 ready\r\n", False, "closed the connection"),
        (b"421 4.3.2 Too busy\r\n", False, "answered: 421"),
        (b"554 5.3.2 No service here\r\n", True, "answered: 554"),
    ],
    ids=["hangs-up", "greets-421", "greets-554"],
)
def test_greetings_and_hang_ups(
    raw_server: Callable[[bytes], int], greeting: bytes, permanent: bool, words: str
) -> None:
    port = raw_server(greeting)
    channel = EmailChannel("127.0.0.1", port, sender=SENDER, starttls=False, timeout=TIMEOUT)
    error = failure(channel, notification())
    assert error.permanent is permanent
    assert words in str(error)


# STARTTLS, implicit TLS and login ------------------------------------------------------
def tls_server(serve: Serve, certificate: Certificate, handler: Recorder, **kwargs: Any) -> Any:
    authenticator = Authenticator()
    controller = serve(
        handler,
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
        **kwargs,
    )
    return controller, authenticator


def tls_channel(
    controller: Controller, certificate: Certificate, password: str = PASSWORD, **kwargs: Any
) -> EmailChannel:
    return EmailChannel(
        "127.0.0.1",
        controller.port,
        sender=SENDER,
        username=USER,
        password=password,
        cafile=str(certificate.cert),
        timeout=TIMEOUT,
        **kwargs,
    )


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_starttls_then_login_delivers(
    serve: Serve, certificate: Certificate, mechanism: str
) -> None:
    handler = Recorder()
    other = "LOGIN" if mechanism == "PLAIN" else "PLAIN"
    controller, authenticator = tls_server(
        serve, certificate, handler, auth_exclude_mechanism=[other]
    )
    tls_channel(controller, certificate).send(notification())

    assert authenticator.attempts == [(mechanism, True)]
    envelope, message = handler.only()
    assert envelope.rcpt_tos == ["ann.jones@example.org"]
    assert message["Message-ID"] == f"<{notification().key}@qiflow>"


def test_a_wrong_password_is_permanent_and_never_shown(
    serve: Serve, certificate: Certificate
) -> None:
    handler = Recorder()
    controller, authenticator = tls_server(serve, certificate, handler)
    wrong = "wrong-" + PASSWORD
    channel = tls_channel(controller, certificate, password=wrong)
    error = failure(channel, notification())

    assert error.permanent
    assert "refused the login: 535" in str(error)
    assert authenticator.attempts
    assert not any(ok for _, ok in authenticator.attempts)
    assert handler.envelopes == []
    for text in (str(error), repr(error), repr(channel), str(vars(channel))):
        assert wrong not in text
        assert PASSWORD not in text


def test_the_password_is_redacted_even_if_the_server_echoes_it() -> None:
    channel = EmailChannel("smtp.example.org", sender=SENDER, username=USER, password=PASSWORD)
    plain_b64 = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    for echoed in (PASSWORD, base64.b64encode(PASSWORD.encode()).decode(), plain_b64):
        error = channel._failure(smtplib.SMTPAuthenticationError(535, f"bad: {echoed}".encode()))
        assert error.permanent
        assert str(error) == "email: smtp.example.org:587 refused the login: 535 bad: ***"


def test_a_temporary_login_failure_is_retryable(serve: Serve, certificate: Certificate) -> None:
    handler = Recorder()
    controller, authenticator = tls_server(serve, certificate, handler)
    authenticator.failure_reply = "454 4.7.0 Temporary authentication failure"
    error = failure(tls_channel(controller, certificate, password="wrong"), notification())
    assert not error.permanent
    assert "refused the login: 454" in str(error)


@pytest.mark.parametrize(
    ("exc", "permanent"),
    [
        (smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server."), True),
        (smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server"), True),
        (smtplib.SMTPException("No suitable authentication method found."), True),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), False),
        (smtplib.SMTPConnectError(421, b"busy"), False),
        (smtplib.SMTPHeloError(501, b"bad HELO"), True),
        (ConnectionResetError(104, "Connection reset by peer"), False),
        (socket.gaierror(-2, "Name or service not known"), False),
        (TimeoutError("timed out"), False),
        (ssl.SSLError(1, "handshake failure"), False),
    ],
)
def test_what_smtplib_raises_maps_to_retry_or_permanent(exc: OSError, permanent: bool) -> None:
    channel = EmailChannel("smtp.example.org", sender=SENDER)
    assert channel._failure(exc).permanent is permanent


def test_starttls_is_never_skipped_when_the_server_does_not_offer_it(serve: Serve) -> None:
    handler = Recorder()
    controller = serve(handler)  # no tls_context: no STARTTLS in its EHLO
    channel = EmailChannel("127.0.0.1", controller.port, sender=SENDER, timeout=TIMEOUT)
    error = failure(channel, notification())
    assert error.permanent
    assert "STARTTLS" in str(error)
    assert handler.envelopes == []


def test_an_untrusted_certificate_is_refused_and_retryable(
    serve: Serve, certificate: Certificate
) -> None:
    handler = Recorder()
    controller, authenticator = tls_server(serve, certificate, handler)
    channel = EmailChannel(  # no cafile: the self-signed certificate is not trusted
        "127.0.0.1",
        controller.port,
        sender=SENDER,
        username=USER,
        password=PASSWORD,
        timeout=TIMEOUT,
    )
    error = failure(channel, notification())
    assert not error.permanent
    assert "TLS failed" in str(error)
    assert authenticator.attempts == []  # the password was never sent
    assert handler.envelopes == []


def test_implicit_tls_with_login_delivers(serve: Serve, certificate: Certificate) -> None:
    handler, authenticator = Recorder(), Authenticator()
    controller = serve(
        handler,
        ssl_context=certificate.server_context(),
        authenticator=authenticator,
        # aiosmtpd 1.4 counts only STARTTLS as TLS for AUTH; and requiring AUTH without
        # requiring TLS makes it warn. The client logs in all the same (it has a username).
        auth_require_tls=False,
    )
    table = {
        "host": "127.0.0.1",
        "port": controller.port,
        "sender": SENDER,
        "ssl": True,  # and so no STARTTLS
        "username": USER,
        "password": PASSWORD,
        "cafile": str(certificate.cert),
        "timeout": TIMEOUT,
    }
    channel = qiflow_channels({"email": table})["email"]
    assert isinstance(channel, EmailChannel)
    assert (channel.ssl, channel.starttls) == (True, False)
    channel.send(notification())
    assert authenticator.attempts == [("PLAIN", True)]
    envelope, _ = handler.only()
    assert envelope.rcpt_tos == ["ann.jones@example.org"]


def test_ssl_defaults_to_port_465() -> None:
    channel = EmailChannel("smtp.example.org", sender=SENDER, ssl=True)
    assert (channel.port, channel.starttls) == (465, False)


# configuration and the hook ------------------------------------------------------------
def test_the_entry_point_is_installed() -> None:
    (found,) = importlib.metadata.entry_points(group="qiflow", name="email")
    assert found.value == "qiflow_email.plugin"


def test_the_hook_returns_a_channel_only_for_an_email_table() -> None:
    pm = get_plugin_manager(allow=["email"])
    without = pm.hook.qiflow_channels(config={})
    assert all("email" not in provided for provided in without)
    config = {"email": {"host": "smtp.example.org", "sender": SENDER}}
    with_table = [p for p in pm.hook.qiflow_channels(config=config) if "email" in p]
    (provided,) = with_table
    channel = provided["email"]
    assert isinstance(channel, EmailChannel)
    assert (channel.name, channel.host, channel.port, channel.starttls) == (
        "email",
        "smtp.example.org",
        587,
        True,
    )


def test_password_env_from_qiflow_toml_reaches_the_login(
    serve: Serve, certificate: Certificate, tmp_path: Path
) -> None:
    handler = Recorder()
    controller, authenticator = tls_server(serve, certificate, handler)
    config = tmp_path / "qiflow.toml"
    config.write_text(
        "[channels.email]\n"
        'host = "127.0.0.1"\n'
        f"port = {controller.port}\n"
        f'sender = "{SENDER}"\n'
        f'username = "{USER}"\n'
        'password_env = "QIFLOW_TEST_SMTP_PASSWORD"\n'
        f'cafile = "{certificate.cert}"\n'
        "timeout = 5\n",
        encoding="utf-8",
    )
    config.chmod(0o600)
    settings = load_settings(
        config, env={"QIFLOW_TEST_SMTP_PASSWORD": PASSWORD}, check_permissions=True
    )
    channel = qiflow_channels(settings.channels)["email"]
    channel.send(notification())
    assert authenticator.attempts == [("PLAIN", True)]
    assert len(handler.envelopes) == 1
    assert PASSWORD not in repr(channel)


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"sender": SENDER}, "channels.email needs host"),
        ({"host": "smtp.example.org"}, "channels.email needs sender"),
        ({"host": "smtp.example.org", "sender": "not an address"}, "sender"),
        ({"host": "smtp.example.org", "sender": SENDER, "pasword": "x"}, "unknown setting"),
        (
            {"host": "smtp.example.org", "sender": SENDER, "ssl": True, "starttls": True},
            "not both",
        ),
        ({"host": "smtp.example.org", "sender": SENDER, "username": USER}, "password_env"),
        ({"host": "smtp.example.org", "sender": SENDER, "port": "25"}, "port"),
        ({"host": "smtp.example.org", "sender": SENDER, "timeout": 0}, "timeout"),
        (
            {"host": "h", "sender": SENDER, "starttls": False, "username": USER, "password": "p"},
            "unencrypted",
        ),
        ({"host": "h", "sender": SENDER, "cafile": "/nonexistent/ca.pem"}, "cafile"),
    ],
)
def test_a_bad_table_is_a_clear_value_error(table: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words) as caught:
        qiflow_channels({"email": table})
    assert isinstance(caught.value, EmailConfigError)  # also a qiflow ConfigError
    assert isinstance(caught.value, ConfigError)


def test_the_password_is_not_in_repr() -> None:
    channel = EmailChannel("smtp.example.org", sender=SENDER, username=USER, password=PASSWORD)
    assert PASSWORD not in repr(channel)
    assert PASSWORD not in str(vars(channel))
    assert PASSWORD not in repr(vars(channel))


# with qiflow's own delivery loop -------------------------------------------------------
def test_deliver_once_sends_and_marks_sent(serve: Serve, tmp_path: Path) -> None:
    handler = Recorder()
    channel = plain(serve(handler))
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning: the window is open
    clock = ManualClock(now - timedelta(days=31))
    policy = ReminderPolicy(digest=False, routing={"reminder": ("email",)})
    with Engine(f"sqlite:///{tmp_path / 'qi.db'}", clock=clock, migrate=True) as engine:
        engine.import_people(
            [Person(id="a.jones", name="Ann Jones", email="ann.jones@example.org")], actor="admin"
        )
        for title in ("Falls", "Sepsis"):
            engine.create_project(title, actor="a.jones", owner="a.jones")
        clock.set(now)
        assert engine.sweep_notifications(policy, daemon="test", channels=["email"]) == (2, 0)
        report = engine.deliver_notifications({"email": channel}, DeliverySettings(), daemon="test")
        sent = engine.outbox(status="sent")

    assert (report.sent, report.retried, report.dead) == (2, 0, 0)
    envelope, message = handler.only()
    assert envelope.rcpt_tos == ["ann.jones@example.org"]
    assert message["Message-ID"] == f"<{message_key(r.key for r in sent)}@qiflow>"
    assert "1. QI-0001 review due 01 Mar 2026: Falls" in plain_text(message)
    assert "2. QI-0002 review due 01 Mar 2026: Sepsis" in plain_text(message)


# the README's example and qiflow daemon, end to end ------------------------------------
README = Path(__file__).parents[1] / "README.md"
ENV = "QIFLOW_TEST_SMTP_PASSWORD"
OWNER, SPONSOR = "olivia", "sam"


def test_the_readme_configuration_works(tmp_path: Path) -> None:
    example = README.read_text(encoding="utf-8").split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "qiflow.toml"
    path.write_text(example, encoding="utf-8")
    path.chmod(0o600)
    settings = load_settings(path, {"QIFLOW_SMTP_PASSWORD": PASSWORD}, check_permissions=True)
    assert settings.policy.routing["reminder"] == ("email",)
    channel = qiflow_channels(settings.channels)["email"]
    assert isinstance(channel, EmailChannel)
    assert (channel.host, channel.port, channel.starttls, channel.ssl, channel.username) == (
        "smtp.example.nhs.uk",
        587,
        True,
        False,
        "qi-daemon",
    )
    assert PASSWORD not in repr(channel)
    assert channel.base_url == "https://qi.example.nhs.uk"


def everything_stored(db: Path) -> str:
    """Every row of every table, and the database files' raw bytes."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = [repr(conn.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables]
    raw = [p.read_bytes().decode("latin-1") for p in db.parent.glob(db.name + "*")]
    return "\n".join(rows + raw)


def notifications(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM qiflow_notification ORDER BY id")]


def daemon_env() -> dict[str, str | None]:
    env: dict[str, str | None] = {ENV: PASSWORD, "QIFLOW_PLUGINS": "email"}
    for var in (
        "QIFLOW_CONFIG",
        "QIFLOW_DATABASE_URL",
        "QIFLOW_WORKFLOWS_DIR",
        "QIFLOW_TIMEZONE",
        "QIFLOW_SENDING_DAYS",
        "QIFLOW_SENDING_HOURS",
        "QIFLOW_DIGEST",
    ):
        env[var] = None
    return env


def test_cli_daemon_once_delivers_over_starttls_with_login(
    serve: Serve, certificate: Certificate, tmp_path: Path
) -> None:
    handler = Recorder()
    controller, authenticator = tls_server(serve, certificate, handler)
    db = tmp_path / "db.sqlite"
    url = f"sqlite:///{db}"
    # "due" is judged by the database's clock (real time): a project created 45 days ago
    # has its 30-day review overdue, and the sponsor has been told
    clock = ManualClock(datetime.now(UTC) - timedelta(days=45))
    with Engine(url, clock=clock, migrate=True) as engine:
        engine.import_people(
            [
                Person(OWNER, "Olivia Owen", email="olivia.owen@example.org"),
                Person(SPONSOR, "Sam Sponsor, Deputy CNO", email="sam.sponsor@example.org"),
            ],
            actor="admin",
        )
        project = engine.create_project(
            "Reduce missed doses", actor=OWNER, owner=OWNER, sponsor=SPONSOR
        )
    config = tmp_path / "qiflow.toml"
    config.write_text(
        f"""
[web]
base_url = "https://qi.example.nhs.uk"

[sending]
days = "mon-sun"
hours = "00:00-23:59"
digest = false

[routing]
reminder = ["email"]
escalation = ["email"]

[channels.email]
host = "127.0.0.1"
port = {controller.port}
sender = "{SENDER}"
username = "{USER}"
password_env = "{ENV}"
cafile = "{certificate.cert}"
timeout = 5
""",
        encoding="utf-8",
    )
    config.chmod(0o600)

    result = CliRunner().invoke(
        main,
        ["--db", url, "daemon", "--once", "--name", "cli-test", "--config", str(config)],
        env=daemon_env(),
        catch_exceptions=False,
    )

    assert result.exit_code == 0, result.output
    assert "swept: 2 new notification(s); delivered: 2 sent, 0 to retry, 0 dead" in result.stdout
    rows = notifications(db)
    assert [(r["channel"], r["status"]) for r in rows] == [("email", "sent")] * 2
    assert authenticator.attempts == [("PLAIN", True)] * 2
    by_address = {e.rcpt_tos[0]: parse(e) for e in handler.envelopes}
    assert sorted(by_address) == ["olivia.owen@example.org", "sam.sponsor@example.org"]
    reminder = next(r for r in rows if r["kind"] == "reminder")
    to_owner = by_address["olivia.owen@example.org"]
    assert to_owner["Message-ID"] == f"<{message_key([reminder['key']])}@qiflow>"
    assert to_owner["Subject"] == reminder["subject"]
    assert to_owner["Subject"].startswith(f"{project.ref} review due ")
    assert to_owner["To"] == "Olivia Owen <olivia.owen@example.org>"
    (sponsor,) = by_address["sam.sponsor@example.org"]["To"].addresses
    assert sponsor.display_name == "Sam Sponsor, Deputy CNO"
    link = f"https://qi.example.nhs.uk/projects/{project.ref}"
    for address, rule in (
        ("olivia.owen@example.org", "owner reminder: you own this project"),
        ("sam.sponsor@example.org", "sponsor escalation: you sponsor this project"),
    ):
        text, html = parts(by_address[address])
        assert f"Open {project.ref}: {link}" in text
        assert f"Why you got this: {rule}" in text
        assert f'<a href="{link}"' in html
        assert f"Why you got this: {rule}" in html
    for text in (everything_stored(db), result.stdout, result.stderr, result.output):
        assert PASSWORD not in text


def test_cli_dead_letters_a_person_without_an_address(serve: Serve, tmp_path: Path) -> None:
    handler = Recorder()
    controller = serve(handler)
    db = tmp_path / "db.sqlite"
    url = f"sqlite:///{db}"
    clock = ManualClock(datetime.now(UTC) - timedelta(days=45))
    with Engine(url, clock=clock, migrate=True) as engine:
        engine.create_project("Reduce missed doses", actor=OWNER, owner=OWNER, sponsor=SPONSOR)
    config = tmp_path / "qiflow.toml"
    config.write_text(
        '[sending]\ndays = "mon-sun"\nhours = "00:00-23:59"\ndigest = false\n'
        '[routing]\nreminder = ["email"]\nescalation = ["email"]\n'
        f'[channels.email]\nhost = "127.0.0.1"\nport = {controller.port}\n'
        f'sender = "{SENDER}"\nstarttls = false\ntimeout = 5\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        main,
        ["--db", url, "daemon", "--once", "--config", str(config)],
        env=daemon_env(),
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "delivered: 0 sent, 0 to retry, 2 dead" in result.stdout
    errors = sorted(r["last_error"] for r in notifications(db))
    assert errors == [
        f"email: {OWNER} has no email address",
        f"email: {SPONSOR} has no email address",
    ]
    assert handler.envelopes == []


def test_cli_reports_a_bad_table_clearly(tmp_path: Path) -> None:
    config = tmp_path / "qiflow.toml"
    config.write_text(f'[channels.email]\nsender = "{SENDER}"\n', encoding="utf-8")
    url = f"sqlite:///{tmp_path}/db.sqlite"
    Engine(url, migrate=True).close()
    result = CliRunner().invoke(
        main, ["--db", url, "daemon", "--once", "--config", str(config)], env=daemon_env()
    )
    assert result.exit_code == 1
    assert "error: channels.email needs host (the SMTP server's name)" in result.stderr
