"""Layer 3: the store interface and its SQLite and PostgreSQL backends."""
