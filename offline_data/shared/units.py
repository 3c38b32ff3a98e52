"""Units of time used across recgym: times are Unix seconds, gaps are reported in hours."""

from __future__ import annotations

MINUTE_S = 60.0
"""Seconds in a minute."""
HOUR_S = 3600.0
"""Seconds in an hour."""
DAY_S = 86_400.0
"""Seconds in a day."""
