"""gallery change feed: keeps every worker's in-process duplicate-face index current (issue 14)

``gallery_changes(seq, op, ref_id)``: one row per enrolment or removal, written under the gallery's advisory
lock, so ``seq`` order is commit order. Empty at upgrade: a worker loads every approved registration at
start-up and then follows the feed from its highest ``seq``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gallery_changes',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('op', sa.String(length=8), nullable=False),
    sa.Column('ref_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sqlite_autoincrement=True
    )


def downgrade() -> None:
    op.drop_table('gallery_changes')
