"""The host's own tables, on SQLModel's shared metadata, as a FastAPI + SQLModel app has them.

Its ``project`` table has nothing to do with qiflow's projects.
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class HostProject(SQLModel, table=True):
    __tablename__ = "project"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    budget: int = 0


class HostEvent(SQLModel, table=True):
    __tablename__ = "event"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=50)
