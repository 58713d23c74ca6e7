"""tenancy: a store/operator scope on API keys and on the sessions they create (issue 14)

A clerk key sees and continues only the sessions created under its own scope. Existing keys and
sessions get NULL: the unscoped scope, so a clerk key created before this revision keeps seeing the
sessions created before it, and a key created with ``--scope`` sees only its store's.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 15:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scope', sa.String(length=64), nullable=True))
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scope', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_sessions_scope'), ['scope'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sessions_scope'))
        batch_op.drop_column('scope')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('scope')
