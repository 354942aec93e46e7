"""qiflow-email: an SMTP notification channel for the qiflow daemon (see README.md)."""

from qiflow_email.plugin import EmailChannel, EmailConfigError

__version__ = "0.1.0"

__all__ = ["EmailChannel", "EmailConfigError", "__version__"]
