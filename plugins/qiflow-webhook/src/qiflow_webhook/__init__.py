"""Webhook and Microsoft Teams channels for qiflow (see README.md)."""

from qiflow_webhook.plugin import WebhookChannel

__all__ = ["WebhookChannel"]
