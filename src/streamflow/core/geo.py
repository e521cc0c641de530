"""Great-circle distance and travel speed."""

from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in decimal degrees.

    Uses the haversine formula on a sphere of radius ``EARTH_RADIUS_KM``
    (error below 0.5% against the WGS-84 ellipsoid).
    """
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2.0
    half_dlambda = math.radians(lon2 - lon1) / 2.0
    sin_dphi = math.sin(half_dphi)
    sin_dlambda = math.sin(half_dlambda)
    # squares as products: compiled code (core.stream_step) computes them so, and pow may round differently
    a = sin_dphi * sin_dphi + math.cos(phi1) * math.cos(phi2) * (sin_dlambda * sin_dlambda)
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def speed_kmh(distance_km: float, elapsed_ms: int, *, min_interval_ms: int) -> float:
    """Speed in km/h over ``elapsed_ms``, with the interval floored at ``min_interval_ms``.

    The floor keeps two events stamped in the same second (or out of order) from
    producing an infinite speed; the absolute interval is used.
    """
    interval_ms = max(abs(elapsed_ms), min_interval_ms, 1)
    return distance_km / (interval_ms / 3_600_000.0)
