"""Schema migrations: idempotent, safe when several processes start at once, never downgrade."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from adapter.store.engine import create_engine_from_url
from adapter.store.migrations import STEPS, SchemaTooNew, current_version, migrate
from adapter.store.schema import schema_version


def _versions(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(schema_version.c.version)).scalars())


def test_migrating_twice_changes_nothing_the_second_time(empty_sql_url: str) -> None:
    engine = create_engine_from_url(empty_sql_url)
    try:
        assert migrate(engine) == [step.version for step in STEPS]
        assert migrate(engine) == []
        assert _versions(engine) == [step.version for step in STEPS]
        with engine.connect() as conn:
            assert current_version(conn) == STEPS[-1].version
            tables = set(sa.inspect(conn).get_table_names())
        assert {"resources", "resource_history", "idx_token", "idx_reference"} <= tables
    finally:
        engine.dispose()


def test_concurrent_migrations_apply_each_step_once(empty_sql_url: str) -> None:
    engines = [create_engine_from_url(empty_sql_url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    applied: list[list[int]] = []
    errors: list[BaseException] = []

    def run(engine: sa.Engine) -> None:
        barrier.wait()
        try:
            applied.append(migrate(engine))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        assert sorted(applied) == [[]] * (len(engines) - 1) + [[s.version for s in STEPS]]
        assert _versions(engines[0]) == [step.version for step in STEPS]
    finally:
        for engine in engines:
            engine.dispose()


def test_a_newer_schema_is_refused(empty_sql_url: str) -> None:
    engine = create_engine_from_url(empty_sql_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(
                sa.insert(schema_version).values(version=999, description="future", applied_at=0)
            )
        with pytest.raises(SchemaTooNew):
            migrate(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite://", "sqlite:///:memory:", "ftp://x"])
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        create_engine_from_url(url)
