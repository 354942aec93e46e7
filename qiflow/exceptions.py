"""Every error qiflow raises derives from :class:`QiflowError`.

Each class's docstring is its default message. Messages say what went wrong and
what to do next.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class QiflowError(Exception):
    """qiflow could not complete the request."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


class UnknownProject(QiflowError):
    """No project has that id or reference."""

    def __init__(self, project: str) -> None:
        self.project = project
        super().__init__(
            f"no project {project!r}: give a project id or a reference such as QI-0001 "
            "(`qiflow project list` shows them)"
        )


class InvalidTransition(QiflowError):
    """That trigger cannot fire from the project's current state."""

    def __init__(self, ref: str, state: str, trigger: str, allowed: Sequence[str]) -> None:
        self.ref, self.state, self.trigger = ref, state, trigger
        self.allowed = tuple(allowed)
        options = ", ".join(self.allowed) if self.allowed else "none (the state is final)"
        super().__init__(
            f"{ref}: {trigger!r} cannot fire from state {state!r}; triggers from here: {options}"
        )


class GuardFailed(QiflowError):
    """The transition's requirements are not met."""

    def __init__(self, ref: str, trigger: str, reasons: Iterable[str]) -> None:
        self.ref, self.trigger = ref, trigger
        self.reasons = tuple(reasons)
        listed = "; ".join(self.reasons)
        super().__init__(f"{ref}: {trigger!r} is blocked: {listed}")


class ConcurrencyConflict(QiflowError):
    """The project changed since it was read."""

    def __init__(self, ref: str, expected: int, actual: int) -> None:
        self.ref, self.expected, self.actual = ref, expected, actual
        super().__init__(
            f"{ref} is at version {actual}, not {expected}: someone changed it since you read "
            "it; read it again and retry"
        )


class PermissionDenied(QiflowError):
    """The actor may not do that."""


class WorkflowDefinitionError(QiflowError):
    """A workflow file is invalid or missing."""

    def __init__(self, message: str, problems: Sequence[object] = ()) -> None:
        self.problems = tuple(problems)
        super().__init__(message)


class ValidationError(QiflowError):
    """The input is not valid.

    Give one message, or every problem at once as a list: ``problems`` holds them, and
    the message joins them with "; ".
    """

    def __init__(self, message: str | Sequence[str] | None = None) -> None:
        if message is not None and not isinstance(message, str):
            self.problems: tuple[str, ...] = tuple(message)
            message = "; ".join(self.problems) or None
        else:
            self.problems = (message,) if message else ()
        super().__init__(message)


class PluginError(QiflowError):
    """A plugin raised in one of qiflow's hooks; the command it was part of saved nothing."""

    def __init__(self, plugin: str, hook: str, error: BaseException) -> None:
        self.plugin, self.hook = plugin, hook
        #: The type of the plugin's error; its message may hold personal data, so it is
        #: logged and shown to the operator, never sent to an HTTP client.
        self.error_type = type(error).__name__
        super().__init__(
            f"plugin {plugin!r} failed in {hook}: {type(error).__name__}: {error}; nothing "
            "was saved. Fix the plugin, or leave it out of the [plugins] allow list"
        )


class IdempotencyConflict(ValidationError):
    """An idempotency key was used before for a different request."""

    def __init__(self, key: str, what: str = "a different request") -> None:
        self.key = key
        super().__init__(
            f"idempotency key {key!r} was already used for {what}; use a new key for each "
            "distinct request (a key is remembered for its expiry period)"
        )


class OutlineError(ValidationError):
    """A driver diagram outline has problems; nothing was imported."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        super().__init__(
            f"{source}: {len(problems)} problem(s), nothing imported:\n  " + "\n  ".join(problems)
        )
        self.problems = tuple(problems)


class DatabaseError(QiflowError):
    """The database is not ready for qiflow."""


class ConfigError(QiflowError):
    """The configuration (qiflow.toml or QIFLOW_* variables) is not usable."""


__all__ = [
    "ConcurrencyConflict",
    "ConfigError",
    "DatabaseError",
    "GuardFailed",
    "IdempotencyConflict",
    "InvalidTransition",
    "OutlineError",
    "PermissionDenied",
    "PluginError",
    "QiflowError",
    "UnknownProject",
    "ValidationError",
    "WorkflowDefinitionError",
]
