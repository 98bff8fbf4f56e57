"""Consent handling for the handover exchange."""
