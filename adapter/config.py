"""Settings: one typed object, from ``forlop serve`` flags or ``FORLOP_*`` environment variables.

Every flag has an environment twin named ``FORLOP_<FLAG>`` (``--database-url`` ->
``FORLOP_DATABASE_URL``). Worker processes started by ``--workers`` read the environment, so the
serve command writes its resolved settings there before starting them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///./forlop.db"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = DEFAULT_DATABASE_URL
    base_path: str = "/fhir"
    workers: int = 1
    max_body_bytes: int = 16 * 1024 * 1024
    max_json_depth: int = 64
    max_bundle_entries: int = 1000
    default_page_size: int = 50
    max_page_size: int = 1000
    plo_xsd_dir: str = ""  # PLO schema folder: when set, POST /plo validates messages against it

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``FORLOP_*`` variables; unset ones keep their defaults."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = environ.get(f"FORLOP_{field.name.upper()}")
            if raw is None:
                continue
            try:
                values[field.name] = int(raw) if field.type in ("int", int) else raw
            except ValueError:
                raise ValueError(
                    f"FORLOP_{field.name.upper()} must be a whole number, not {raw!r}"
                ) from None
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        return {f"FORLOP_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the given fields changed; ``None`` means 'keep'."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
