"""Handover packets: signed, encrypted, consent-checked hand-overs between organizations."""
