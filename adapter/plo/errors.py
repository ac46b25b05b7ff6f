"""Why forlop refuses a PLO message, in the terms of the receipt it answers with.

A refused message is answered with a negative AppRec v1.1 (``Status`` 2, "Avvist") whose ``Error``
elements carry codes from KITH code system 8221 (``2.16.578.1.12.4.1.1.8221``): T01 not XML or
unreadable, T02 does not validate, T10 unsupported message format, T99 other format error, E10
invalid message identifier, E30/E31 the patient's identity number missing/wrong, X99 other error.
Their descriptions live in ``mappings/plo-kith-8221.json``; :class:`Problem` adds what exactly was
wrong and where (a path into the message).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["PloError", "Problem", "reject"]


@dataclass(frozen=True)
class Problem:
    """One error in a received message: an 8221 code, what was wrong, and where."""

    code: str
    description: str
    where: str = ""

    def __str__(self) -> str:
        place = f" ({self.where})" if self.where else ""
        return f"{self.code}: {self.description}{place}"


class PloError(Exception):
    """A message forlop refuses; the problems become the ``Error`` elements of the AppRec.

    ``original`` is what could be read of the refused message's MsgInfo (an
    :class:`adapter.plo.envelope.Original`), for addressing the receipt.
    """

    def __init__(self, problems: Iterable[Problem], original: Any = None) -> None:
        self.problems = tuple(problems)
        if not self.problems:
            raise ValueError("a PloError needs at least one problem")
        self.original = original
        super().__init__("; ".join(str(p) for p in self.problems))


def reject(code: str, description: str, where: str = "") -> PloError:
    return PloError([Problem(code, description, where)])
