"""The charter aggregate: a project's driver diagram nodes and its team."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from sqlalchemy import Connection, RowMapping, delete, distinct, func, insert, select, update

from qiflow.charter.diagram import DriverDiagram, DriverNode
from qiflow.charter.team import TeamMember
from qiflow.store.tables import DRIVER_NODE, TEAM_MEMBER


class Charters:
    """Driver diagram nodes (removed ones kept, so their ids are never reused) and team rows."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def diagram(self, project_id: str) -> DriverDiagram:
        stmt = (
            select(DRIVER_NODE)
            .where(DRIVER_NODE.c.project_id == project_id)
            .order_by(DRIVER_NODE.c.position)
        )
        return _diagram(list(self._conn.execute(stmt).mappings()))

    def diagrams(self) -> dict[str, DriverDiagram]:
        """Every project's driver diagram that has a node, by project id, in one query."""
        stmt = select(DRIVER_NODE).order_by(DRIVER_NODE.c.project_id, DRIVER_NODE.c.position)
        rows: dict[str, list[RowMapping]] = {}
        for row in self._conn.execute(stmt).mappings():
            rows.setdefault(row["project_id"], []).append(row)
        return {project_id: _diagram(found) for project_id, found in rows.items()}

    def save_diagram(self, project_id: str, before: DriverDiagram, after: DriverDiagram) -> None:
        """Store what changed from ``before`` to ``after``: new, changed and removed nodes."""
        old = {n.id: n for n in before.nodes}
        position = len(before.nodes) + len(before.retired)
        for node in after.nodes:
            values = {
                "kind": node.kind,
                "title": node.title,
                "status": node.status,
                "parents": list(node.parents),
                "measures": list(node.measures),
            }
            if node.id not in old:
                position += 1
                self._conn.execute(
                    insert(DRIVER_NODE).values(
                        project_id=project_id,
                        node_id=node.id,
                        position=position,
                        removed=False,
                        **values,
                    )
                )
            elif old[node.id] != node:
                self._node(project_id, node.id, values)
        for gone in set(after.retired) - set(before.retired):
            self._node(project_id, gone, {"removed": True})

    def _node(self, project_id: str, node_id: str, values: Mapping[str, object]) -> None:
        self._conn.execute(
            update(DRIVER_NODE)
            .where(DRIVER_NODE.c.project_id == project_id, DRIVER_NODE.c.node_id == node_id)
            .values(**values)
        )

    def team(self, project_id: str) -> tuple[TeamMember, ...]:
        stmt = (
            select(TEAM_MEMBER.c.person, TEAM_MEMBER.c.role)
            .where(TEAM_MEMBER.c.project_id == project_id)
            .order_by(TEAM_MEMBER.c.position)
        )
        return tuple(TeamMember(person, role) for person, role in self._conn.execute(stmt))

    def add_member(self, project_id: str, member: TeamMember) -> None:
        last = self._conn.execute(
            select(func.max(TEAM_MEMBER.c.position)).where(TEAM_MEMBER.c.project_id == project_id)
        ).scalar()
        self._conn.execute(
            insert(TEAM_MEMBER).values(
                project_id=project_id,
                person=member.person,
                role=member.role,
                position=(last or 0) + 1,
            )
        )

    def remove_member(self, project_id: str, member: TeamMember) -> None:
        self._conn.execute(
            delete(TEAM_MEMBER).where(
                TEAM_MEMBER.c.project_id == project_id,
                TEAM_MEMBER.c.person == member.person,
                TEAM_MEMBER.c.role == member.role,
            )
        )

    def team_sizes(self, project_ids: Collection[str] | None = None) -> dict[str, int]:
        """How many people are on each project's team, in one statement."""
        stmt = select(TEAM_MEMBER.c.project_id, func.count(distinct(TEAM_MEMBER.c.person)))
        if project_ids is not None:
            stmt = stmt.where(TEAM_MEMBER.c.project_id.in_(list(project_ids)))
        stmt = stmt.group_by(TEAM_MEMBER.c.project_id)
        return {project_id: int(count) for project_id, count in self._conn.execute(stmt)}


def _diagram(rows: Sequence[RowMapping]) -> DriverDiagram:
    return DriverDiagram.build(
        (
            DriverNode(
                id=row["node_id"],
                kind=row["kind"],
                title=row["title"],
                status=row["status"],
                parents=tuple(row["parents"]),
                measures=tuple(row["measures"]),
            )
            for row in rows
            if not row["removed"]
        ),
        [row["node_id"] for row in rows if row["removed"]],
    )
