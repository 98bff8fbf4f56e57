"""Responsibility never lapses: leads, staff changes, the unassigned queue, escalations."""
