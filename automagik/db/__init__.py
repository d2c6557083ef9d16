"""Database layer: engine and sessions, ORM models, migrations."""
