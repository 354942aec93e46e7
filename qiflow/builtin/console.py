"""The console channel: the default, so ``qiflow daemon`` works with no configuration.

Each notification is printed to standard output (a digest with its items) and
logged as a structured event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qiflow.logs import get_logger
from qiflow.notify.channels import Channel, Notification
from qiflow.plugins import hookimpl

log = get_logger("qiflow.notify")


class ConsoleChannel:
    name = "console"

    def send(self, notification: Notification) -> None:
        to = notification.name or notification.recipient
        print(f"[{notification.key}] to {to}: {notification.subject}", flush=True)
        if len(notification.items) > 1:
            print(notification.body, flush=True)
        log.info(
            "notification",
            key=notification.key,
            to=notification.recipient,
            subject=notification.subject,
            items=len(notification.items) or 1,
        )


@hookimpl
def qiflow_channels(config: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Channel]:
    return {"console": ConsoleChannel()}
