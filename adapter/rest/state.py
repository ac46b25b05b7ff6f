"""What a running app holds: the repository, the interaction context, and the search tables."""

from __future__ import annotations

from dataclasses import dataclass

from adapter.router.crud import Context
from adapter.search.parameters import SearchParameters
from adapter.store.repository import Repository


@dataclass
class AppState:
    repository: Repository
    context: Context
    parameters: SearchParameters
    version: str
