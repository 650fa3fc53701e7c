"""The engine's one error: a rule pack, a rules config or an exemption file is wrong."""

from __future__ import annotations

from collections.abc import Sequence

from auditor.errors import BadInputError, one_line


class RuleError(BadInputError):
    """Every problem, one per line: `file:line: rule <id>: <field>: <problem> (valid: ...)`."""

    def __init__(self, problems: Sequence[str], what: str = "rules") -> None:
        self.problems = tuple(one_line(p) for p in problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in {what}:"
        super().__init__("\n".join((head, *self.problems)) if count > 1 else self.problems[0])
