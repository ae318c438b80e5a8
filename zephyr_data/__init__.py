"""Curate chat and preference data the Zephyr-7B way."""

__version__ = "0.1.0"
