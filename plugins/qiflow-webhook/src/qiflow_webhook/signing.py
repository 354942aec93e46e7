"""Standard Webhooks signatures: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``.

The signed content is ``{id}.{timestamp}.{body}`` and the signature HMAC-SHA256 with
the secret's key, base64-encoded and prefixed ``v1,`` (https://www.standardwebhooks.com).
The secret is in the convention's own form, ``whsec_`` and the base64 of 24 to 64
random bytes. During a rotation both the new and the previous secret sign, so a
receiver that holds either one accepts the message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from qiflow.exceptions import ConfigError

PREFIX = "whsec_"
MIN_BYTES, MAX_BYTES = 24, 64
HOW_TO_MAKE = (
    'make one with: python -c "import base64, secrets; '
    "print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\""
)


class SigningKey:
    """A ``whsec_...`` secret, decoded; never shows itself in a repr or a str."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def parse(cls, channel: str, setting: str, value: object) -> SigningKey:
        """The key in ``value``, or a ConfigError naming ``setting`` (never the value)."""
        where = f"channels.{channel}.{setting}"
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where} is empty (check its _env variable or _file)")
        value = value.strip()
        if not value.startswith(PREFIX):
            raise ConfigError(
                f"{where} must start with {PREFIX} (Standard Webhooks); {HOW_TO_MAKE}"
            )
        try:
            key = base64.b64decode(value[len(PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(
                f"{where}: the part after {PREFIX} is not base64; {HOW_TO_MAKE}"
            ) from None
        if not MIN_BYTES <= len(key) <= MAX_BYTES:
            raise ConfigError(
                f"{where} holds {len(key)} bytes; it needs {MIN_BYTES} to {MAX_BYTES}; "
                + HOW_TO_MAKE
            )
        return cls(key)

    def sign(self, content: bytes) -> str:
        digest = hmac.new(self._key, content, hashlib.sha256).digest()
        return "v1," + base64.b64encode(digest).decode("ascii")

    def __repr__(self) -> str:
        return "SigningKey(***)"

    __str__ = __repr__


def signature_headers(
    keys: tuple[SigningKey, ...], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three headers for ``body``; one signature per key, space-separated."""
    content = f"{message_id}.{timestamp}.".encode() + body
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(key.sign(content) for key in keys),
    }
