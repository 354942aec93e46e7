"""Projects through their lifecycle: commands, the runner, requirements, effects and
automatic transitions (see docs/architecture.md)."""
