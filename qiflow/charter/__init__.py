"""A project's charter beyond its fields: the driver diagram and the team.

The Model for Improvement's third question, "what changes can we make that will
result in improvement?", is answered by a driver diagram: the aim, the primary
drivers that bear on it, secondary drivers under those, and the change ideas PDSA
cycles test. This package holds the diagram and the team as immutable values, the
rules for editing them (each edit is an event), outline import and rendering. It
reads no database: the engine loads the values, asks here what an edit means, and
stores the events.
"""
