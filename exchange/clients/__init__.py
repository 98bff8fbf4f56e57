"""Clients (the persons whose data moves): identity codes kept encrypted, opaque ids out."""
