"""Errors meant for the operator: commands print their message and exit 2, no traceback."""

from __future__ import annotations


class ConfigurationError(RuntimeError):
    """What is running (brokers, topics) contradicts the settings; the message says the fix."""
