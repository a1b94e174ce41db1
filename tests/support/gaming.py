"""The gaming report's last line, as `clout gaming-report` prints it and the tests read it."""

from __future__ import annotations

import re

SUMMARY = re.compile(
    r"bought_points_per_1000=(\d+\.\d+) organic_points_per_1000=(\d+\.\d+) ratio=(\d+\.\d+|inf)"
)
