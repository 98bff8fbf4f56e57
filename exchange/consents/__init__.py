"""Consents as stored and served: recording, approval, withdrawal, decisions, receipts."""
