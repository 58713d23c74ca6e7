"""Persistence: SQLAlchemy models, Alembic migrations, encryption at rest, keyed hashes and the audit chain."""
