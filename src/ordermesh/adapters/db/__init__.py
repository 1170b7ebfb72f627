"""SQLAlchemy 2 Core storage for SQLite (embedded) and PostgreSQL (production)."""
