"""A flow file that cannot be used: every problem with its file, line and node."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FlowProblem:
    file: str
    line: int
    node: str | None  # None: a flow-level key (name, languages, prompts...)
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return (
            f"{where}: node {self.node}: {self.message}"
            if self.node
            else f"{where}: {self.message}"
        )


class FlowError(Exception):
    """A flow refused at load; str() is one line per problem, `file:line: node X: what`."""

    def __init__(self, problems: Iterable[FlowProblem | str]) -> None:
        self.problems: tuple[FlowProblem | str, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
