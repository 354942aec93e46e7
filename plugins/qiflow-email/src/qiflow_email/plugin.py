"""Deliver qiflow notifications as email over SMTP, with the standard library only.

Every message has a plain-text part and an HTML part (see :mod:`qiflow_email.content`)
and carries the notification's idempotency key as its Message-ID
(``<key@qiflow>``), so a receiver can drop the repeat that at-least-once delivery
may send. Header values are built from text with every line break and control
character replaced by a space, so a name or subject cannot add a header, and the
envelope names exactly one recipient whatever the headers say. The password is
kept out of every message, log line and ``repr``.
"""

from __future__ import annotations

import base64
import re
import smtplib
import ssl as tls
from collections.abc import Mapping
from datetime import UTC, datetime
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from qiflow import Channel, DeliveryError, Notification, hookimpl
from qiflow.exceptions import ConfigError

from qiflow_email import content

#: Characters that end a line for someone (CR, LF, VT, FF, NEL, U+2028...) or are controls.
_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
#: A plain address: one "@", no spaces, controls or address-list punctuation.
_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"\\@]+@[^\s<>()\[\],;:\"\\@]+\Z")
#: Characters that make a display name need quotes, and those escaped inside them (RFC 5322).
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
_ESCAPES = re.compile(r'[\\"]')
#: A key usable as the left part of a Message-ID (a dot-atom of URL-safe characters).
_KEY = re.compile(r"[A-Za-z0-9_~-]+(?:\.[A-Za-z0-9_~-]+)*\Z")

#: Headers are built here and stored as they are (see :func:`mailbox`); CRLF line ends.
POLICY = SMTP_POLICY.clone(refold_source="none")
MAX_NAME = 200
#: The longest subject sent (characters); a longer one is cut, at a space if one is near.
MAX_SUBJECT = 150
#: The longest word a header keeps as plain text; a longer one (a link, say) is written
#: as RFC 2047 encoded words, which fold anywhere, so no line passes RFC 5322's 998.
MAX_PLAIN_WORD = 70

#: The keys of ``[channels.email]`` after qiflow resolved ``password_env``/``password_file``.
SETTINGS = (
    "host",
    "port",
    "sender",
    "starttls",
    "ssl",
    "username",
    "password",
    "timeout",
    "cafile",
    "base_url",
    "timezone",
)


class EmailConfigError(ConfigError, ValueError):
    """The ``[channels.email]`` table is not usable.

    A :class:`ValueError`, and a qiflow ``ConfigError`` so that ``qiflow daemon`` prints
    it as one line rather than a traceback.
    """


def one_line(text: str) -> str:
    """``text`` with every run of line breaks and control characters made one space."""
    return _BREAKS.sub(" ", text).strip()


def shorten(text: str, limit: int = MAX_SUBJECT) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis if longer: at
    the last space of the final quarter, else mid-word (a long link has no space)."""
    text = one_line(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 3 // 4:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def encode_text(text: str, header: str) -> str:
    """A header value for free text: one line, RFC 2047 words if not plain ASCII, folded.

    Folding puts a space at the start of every continuation line, and ``Header``
    refuses any value in which a line could start a header of its own. Plain ASCII
    folds only at spaces, so a text with a word longer than :data:`MAX_PLAIN_WORD`
    is encoded too: encoded words split anywhere.
    """
    text = one_line(text)
    plain = (
        text.isascii()
        and "=?" not in text
        and all(len(word) <= MAX_PLAIN_WORD for word in text.split(" "))
    )
    return Header(text, "us-ascii" if plain else "utf-8", header_name=header).encode(linesep="\n")


def mailbox(name: str, address: str) -> str:
    """``Name <address>``, the name quoted (ASCII) or RFC 2047-encoded (otherwise).

    Like ``email.utils.formataddr``, which refuses a non-ASCII address (SMTPUTF8). The
    header is stored as built: the ``email`` package's own folder, on Python 3.11,
    re-encodes a non-ASCII name that contains a comma without quoting it, and the
    header then reads as two addresses.
    """
    name = one_line(name)[:MAX_NAME]
    if not name:
        return address
    if name.isascii() and "=?" not in name:
        if _SPECIALS.search(name):
            name = '"' + _ESCAPES.sub(r"\\\g<0>", name) + '"'
        return f"{name} <{address}>"
    return f"{encode_text(name, 'To')} <{address}>"


class _Secret:
    """A string that never shows itself in a repr, a str or a traceback's locals."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


class EmailChannel:
    """Sends each notification as one plain-text email to the person's address.

    ``host`` and ``port`` (587, or 465 with ``ssl``) name the SMTP server; ``sender`` is
    the From header and the envelope sender. ``starttls`` (the default unless ``ssl``)
    upgrades the connection before anything else and fails if the server cannot;
    ``ssl`` uses TLS from the first byte instead. ``username`` and ``password`` log in,
    only ever over TLS. ``cafile``, a PEM file, is trusted instead of the system's CAs.
    ``timeout`` (seconds) bounds the connection and each reply.
    """

    name = "email"

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        sender: str,
        starttls: bool | None = None,
        ssl: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        cafile: str | None = None,
        base_url: str | None = None,
        timezone: str = "Europe/London",
    ) -> None:
        if not isinstance(host, str) or not host or one_line(host) != host or " " in host:
            raise EmailConfigError("channels.email.host must be a server name, e.g. smtp.nhs.net")
        if starttls is None:
            starttls = not ssl
        if port is None:
            port = 465 if ssl is True else 587
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise EmailConfigError("channels.email.port must be a whole number from 1 to 65535")
        if not isinstance(sender, str) or one_line(sender) != sender:
            raise EmailConfigError("channels.email.sender must be one line of text")
        sender_name, envelope_from = parseaddr(sender)
        if not _ADDRESS.match(envelope_from):
            raise EmailConfigError(
                f"channels.email.sender {sender!r} is not an address "
                '(e.g. "QI team <qi.team@example.nhs.uk>")'
            )
        for key, flag in (("starttls", starttls), ("ssl", ssl)):
            if not isinstance(flag, bool):
                raise EmailConfigError(f"channels.email.{key} must be true or false")
        if starttls and ssl:
            raise EmailConfigError(
                "channels.email: choose starttls (port 587) or ssl (port 465), not both"
            )
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise EmailConfigError("channels.email.timeout must be a positive number of seconds")
        if username is not None and (not isinstance(username, str) or not username):
            raise EmailConfigError("channels.email.username must be a non-empty string")
        if password is not None and (not isinstance(password, str) or not password):
            raise EmailConfigError("channels.email: the password is empty")
        if (username is None) != (password is None):
            raise EmailConfigError(
                "channels.email: give both username and password_env (or password_file), or neither"
            )
        if username is not None and not (starttls or ssl):
            raise EmailConfigError(
                "channels.email: a login needs starttls or ssl; the password would otherwise "
                "cross the network unencrypted"
            )
        if cafile is not None and not (starttls or ssl):
            raise EmailConfigError("channels.email.cafile needs starttls or ssl")
        if base_url is not None and (
            not isinstance(base_url, str) or not base_url.startswith(("https://", "http://"))
        ):
            raise EmailConfigError("channels.email.base_url must be an http(s) URL")
        try:
            self.zone = ZoneInfo(str(timezone))
        except (ZoneInfoNotFoundError, ValueError):
            raise EmailConfigError(
                f"channels.email.timezone {timezone!r} is not a time zone"
            ) from None
        self.base_url = base_url.rstrip("/") if base_url else None
        self.host = host
        self.port = port
        self.sender = sender
        self.starttls = starttls
        self.ssl = ssl
        self.username = username
        self.timeout = float(timeout)
        self.cafile = cafile
        self._sender_name = sender_name
        self._envelope_from = envelope_from
        self._password = None if password is None else _Secret(password)
        self._context: tls.SSLContext | None = None
        if starttls or ssl:
            try:
                self._context = tls.create_default_context(cafile=cafile)
            except (OSError, ValueError) as exc:
                raise EmailConfigError(
                    f"channels.email.cafile {cafile!r}: {type(exc).__name__}: {exc}"
                ) from None

    @classmethod
    def from_config(cls, table: Mapping[str, Any]) -> EmailChannel:
        """Build from a resolved ``[channels.email]`` table (``password_env`` -> ``password``)."""
        unknown = sorted(set(table) - set(SETTINGS))
        if unknown:
            raise EmailConfigError(
                f"channels.email: unknown setting(s) {', '.join(unknown)} "
                f"(expected {', '.join(SETTINGS)}; "
                "password is given as password_env or password_file)"
            )
        for key, what in (("host", "the SMTP server's name"), ("sender", "the From address")):
            if key not in table:
                raise EmailConfigError(f"channels.email needs {key} ({what})")
        return cls(
            table["host"],
            table.get("port"),
            sender=table["sender"],
            starttls=table.get("starttls"),
            ssl=table.get("ssl", False),
            username=table.get("username"),
            password=table.get("password"),
            timeout=table.get("timeout", 10.0),
            cafile=table.get("cafile"),
            base_url=table.get("base_url"),
            timezone=table.get("timezone", "Europe/London"),
        )

    def __repr__(self) -> str:  # never shows the password
        return (
            f"EmailChannel(host={self.host!r}, port={self.port}, sender={self.sender!r}, "
            f"starttls={self.starttls}, ssl={self.ssl}, username={self.username!r})"
        )

    # the message -----------------------------------------------------------------------
    def message(self, notification: Notification) -> EmailMessage:
        """The email for ``notification``; raises a permanent DeliveryError if it has none."""
        address = self.address(notification)
        if not _KEY.match(notification.key):
            raise DeliveryError(
                f"email: key {notification.key!r} cannot be a Message-ID", permanent=True
            )
        message = EmailMessage(policy=POLICY)
        for header, value in (
            ("From", mailbox(self._sender_name, self._envelope_from)),
            ("To", mailbox(notification.name or "", address)),
            ("Subject", encode_text(shorten(notification.subject), "Subject")),
            ("Date", format_datetime(datetime.now(UTC))),
            ("Message-ID", f"<{notification.key}@qiflow>"),
            ("Auto-Submitted", "auto-generated"),
        ):
            message.set_raw(header, value)
        shown = content.entries(notification, self.base_url, self.zone)
        text, html = content.text(notification, shown), content.html(notification, shown)
        # 7-bit clean for any server: quoted-printable unless the text is plain ASCII
        # (then 7bit, or quoted-printable or base64 if a line is long).
        message.set_content(text, cte=None if text.isascii() else "quoted-printable")
        message.add_alternative(
            html, subtype="html", cte=None if html.isascii() else "quoted-printable"
        )
        if len(message["To"].addresses) != 1:  # belt and braces: mailbox() quotes or encodes
            raise DeliveryError(
                f"email: bad To header for {notification.recipient}", permanent=True
            )
        return message

    @staticmethod
    def address(notification: Notification) -> str:
        address = (notification.address or "").strip()
        if not address:
            raise DeliveryError(
                f"email: {notification.recipient} has no email address", permanent=True
            )
        if not _ADDRESS.match(address):
            raise DeliveryError(
                f"email: {notification.recipient}'s email address is not usable", permanent=True
            )
        return address

    # sending ---------------------------------------------------------------------------
    def send(self, notification: Notification) -> None:
        message = self.message(notification)
        address = self.address(notification)
        try:
            self._transmit(message, address)
        except (smtplib.SMTPException, OSError) as exc:
            raise self._failure(exc) from None

    def _transmit(self, message: EmailMessage, address: str) -> None:
        smtp: smtplib.SMTP
        if self.ssl:
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._context
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.starttls:
                smtp.starttls(context=self._context)  # never falls back to plain text
            if self.username is not None and self._password is not None:
                smtp.login(self.username, self._password.reveal())
            # One envelope recipient, whatever the headers say (send_message drops Bcc too).
            # With one recipient, a refusal raises SMTPRecipientsRefused.
            smtp.send_message(message, from_addr=self._envelope_from, to_addrs=[address])
        except BaseException:
            smtp.close()
            raise
        try:
            smtp.quit()  # the message is accepted: a failing QUIT must not cause a resend
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _failure(self, exc: BaseException) -> DeliveryError:
        """A retryable (4xx, network, TLS) or permanent (5xx, unsupported) DeliveryError."""
        where = f"email: {self.host}:{self.port}"
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            code, text = next(iter(exc.recipients.values()), (-1, b""))
            return self._answered(where, "refused the recipient", code, text)
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return self._answered(where, "refused the login", exc.smtp_code, exc.smtp_error)
        if isinstance(exc, smtplib.SMTPSenderRefused):
            return self._answered(where, "refused the sender", exc.smtp_code, exc.smtp_error)
        if isinstance(exc, smtplib.SMTPDataError):
            return self._answered(where, "refused the message", exc.smtp_code, exc.smtp_error)
        if isinstance(exc, smtplib.SMTPResponseException):
            return self._answered(where, "answered", exc.smtp_code, exc.smtp_error)
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return DeliveryError(f"{where} closed the connection: {self._redact(str(exc))}")
        if isinstance(exc, smtplib.SMTPException):
            # smtplib's own checks: no STARTTLS, no AUTH, no usable mechanism, no SMTPUTF8.
            # Configuration problems that a retry would not fix.
            return DeliveryError(f"{where}: {self._redact(str(exc))}", permanent=True)
        if isinstance(exc, TimeoutError):
            return DeliveryError(f"{where} timed out after {self.timeout:g}s")
        if isinstance(exc, tls.SSLError):
            return DeliveryError(f"{where}: TLS failed: {self._redact(str(exc))}")
        return DeliveryError(f"{where}: could not connect: {type(exc).__name__}: {exc}")

    def _answered(self, where: str, what: str, code: int, text: bytes | str) -> DeliveryError:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        reply = self._redact(one_line(text))[:300]
        return DeliveryError(f"{where} {what}: {code} {reply}", permanent=500 <= code < 600)

    def _redact(self, text: str) -> str:
        if self._password is None:
            return text
        secret = self._password.reveal()
        forms = (
            secret,
            base64.b64encode(secret.encode()).decode(),
            base64.b64encode(f"\0{self.username}\0{secret}".encode()).decode(),
        )
        for form in forms:
            text = text.replace(form, "***")
        return text


@hookimpl
def qiflow_channels(config: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Channel]:
    """``[channels.email]``: an :class:`EmailChannel`; nothing without that table."""
    table = config.get("email")
    if table is None:
        return {}
    return {"email": EmailChannel.from_config(table)}
