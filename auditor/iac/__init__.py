"""Declared state (infrastructure as code) to compare with live state."""
