"""Everything that talks to the outside: database, Redis, key store, crypto primitives."""
