"""Governance around projects: gates and the built-in QEIA, people, escalation to programme
status and risk registers (see docs/architecture.md)."""
