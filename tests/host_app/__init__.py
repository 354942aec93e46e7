"""A host application that embeds qiflow: its own SQLModel tables and Alembic migrations."""
