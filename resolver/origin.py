"""Where a requirement of the project was written: the table of pyproject.toml it comes from.

The solver names it in conflict stories ("the project requires foo>=2 (in
dependency-groups.dev)") and the lock turns it into a package's marker ("'dev' in
dependency_groups"); both read the typed fields, nothing parses the message back.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from packaging.requirements import Requirement


class Table(enum.Enum):
    """The kinds of table a requirement can come from."""

    DEPENDENCIES = "project.dependencies"
    OPTIONAL = "project.optional-dependencies"
    GROUP = "dependency-groups"
    CONSTRAINTS = "tool.satlock.constraints"
    BUILD = "build requirements"


@dataclass(frozen=True)
class Origin:
    """A table, and the extra, group or package it is about (``name``; empty for the others)."""

    table: Table
    name: str = ""

    @classmethod
    def extra(cls, extra: str) -> Origin:
        return cls(Table.OPTIONAL, extra)

    @classmethod
    def group(cls, group: str) -> Origin:
        return cls(Table.GROUP, group)

    @classmethod
    def build(cls, package: str) -> Origin:
        """The build requirements of ``package`` (a build environment's own solve)."""
        return cls(Table.BUILD, package)

    def __str__(self) -> str:
        """The table as a user reads it in pyproject.toml, for messages."""
        if self.table in (Table.OPTIONAL, Table.GROUP):
            return f"{self.table.value}.{self.name}"
        if self.table is Table.BUILD:
            return f"build requirements of {self.name}"
        return self.table.value


DEPENDENCIES = Origin(Table.DEPENDENCIES)
CONSTRAINTS = Origin(Table.CONSTRAINTS)


@dataclass(frozen=True)
class RootRequirement:
    """A requirement of the project, and the table it was written in (for messages and lock markers)."""

    requirement: Requirement
    where: Origin = DEPENDENCIES
