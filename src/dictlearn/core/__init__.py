"""Plumbing every stage shares: errors, atomic outputs, devices, settings schemas."""
