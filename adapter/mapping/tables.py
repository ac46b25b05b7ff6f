"""Mapping data from ``mappings/`` turned into domain settings (read through the registry)."""

from __future__ import annotations

from decimal import Decimal

from adapter.domain.psfs import Thresholds
from adapter.registry import Registry, default_registry


def psfs_thresholds(registry: Registry | None = None) -> Thresholds:
    data = (registry or default_registry()).data["psfs"]
    return Thresholds(
        activity_change=int(data["activityChange"]),
        mean_change=Decimal(str(data["meanChange"])),
        min_activities=int(data["minActivities"]),
        max_activities=int(data["maxActivities"]),
        mean_places=int(data["meanDecimalPlaces"]),
    )
