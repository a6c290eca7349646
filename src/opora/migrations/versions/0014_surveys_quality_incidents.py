"""surveys quality incidents

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import opora.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, opora.db.UTCDateTime(timezone=True), nullable=nullable)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "csat_surveys",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=True),
        sa.Column("agent_id", _ID, nullable=True),
        sa.Column("team_id", _ID, nullable=True),
        sa.Column("channel_type", sa.String(length=30), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("message_id", _ID, nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("follow_up", sa.String(length=10), nullable=True),
        sa.Column("follow_up_by", _ID, nullable=True),
        _at("created_at"),
        _at("sent_at", True),
        _at("expires_at", True),
        _at("answered_at", True),
        _fk("csat_surveys", "ticket_id", "tickets", "CASCADE"),
        _fk("csat_surveys", "customer_id", "customers", "SET NULL"),
        _fk("csat_surveys", "agent_id", "agents", "SET NULL"),
        _fk("csat_surveys", "team_id", "teams", "SET NULL"),
        _fk("csat_surveys", "message_id", "messages", "SET NULL"),
        _fk("csat_surveys", "follow_up_by", "agents", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csat_surveys")),
    )
    with op.batch_alter_table("csat_surveys") as batch_op:
        batch_op.create_index("uq_csat_surveys_ticket", ["ticket_id"], unique=True)
        batch_op.create_index("ix_csat_surveys_answered", ["answered_at"], unique=False)
        batch_op.create_index("ix_csat_surveys_agent_answered", ["agent_id", "answered_at"], unique=False)
        batch_op.create_index("ix_csat_surveys_follow_up", ["follow_up", "answered_at"], unique=False)

    op.create_table(
        "csat_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("delay_minutes", sa.Integer(), nullable=False),
        sa.Column("link_valid_days", sa.Integer(), nullable=False),
        sa.Column("survey_texts", _JSON, nullable=False),
        sa.Column("reply_texts", _JSON, nullable=False),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csat_settings")),
    )

    op.create_table(
        "quality_scorecards",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("criteria", _JSON, nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_scorecards")),
    )
    op.create_table(
        "quality_reviews",
        sa.Column("id", _ID, nullable=False),
        sa.Column("scorecard_id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("agent_id", _ID, nullable=False),
        sa.Column("reviewer_id", _ID, nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("criteria", _JSON, nullable=False),
        sa.Column("scores", _JSON, nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("total", sa.Float(), nullable=True),
        _at("created_at"),
        _at("completed_at", True),
        _fk("quality_reviews", "scorecard_id", "quality_scorecards", "CASCADE"),
        _fk("quality_reviews", "ticket_id", "tickets", "CASCADE"),
        _fk("quality_reviews", "agent_id", "agents", "CASCADE"),
        _fk("quality_reviews", "reviewer_id", "agents", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_reviews")),
    )
    with op.batch_alter_table("quality_reviews") as batch_op:
        batch_op.create_index(
            "uq_quality_reviews_ticket_scorecard", ["ticket_id", "scorecard_id"], unique=True
        )
        batch_op.create_index(
            "ix_quality_reviews_agent_completed", ["agent_id", "completed_at"], unique=False
        )
        batch_op.create_index("ix_quality_reviews_status", ["status", "id"], unique=False)

    op.create_table(
        "incidents",
        sa.Column("id", _ID, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_text", sa.Text(), nullable=False),
        sa.Column("rule_topic", sa.String(length=100), nullable=True),
        _at("rule_from", True),
        _at("rule_until", True),
        sa.Column("created_by", _ID, nullable=True),
        _at("created_at"),
        _at("updated_at"),
        _at("resolved_at", True),
        _fk("incidents", "created_by", "agents", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents") as batch_op:
        batch_op.create_index("ix_incidents_status", ["status", "id"], unique=False)
    op.create_table(
        "incident_tickets",
        sa.Column("incident_id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("linked_by", sa.String(length=10), nullable=False),
        _at("linked_at"),
        _fk("incident_tickets", "incident_id", "incidents", "CASCADE"),
        _fk("incident_tickets", "ticket_id", "tickets", "CASCADE"),
        sa.PrimaryKeyConstraint("incident_id", "ticket_id", name=op.f("pk_incident_tickets")),
    )
    with op.batch_alter_table("incident_tickets") as batch_op:
        batch_op.create_index("ix_incident_tickets_ticket", ["ticket_id"], unique=False)
    op.create_table(
        "incident_updates",
        sa.Column("id", _ID, nullable=False),
        sa.Column("incident_id", _ID, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("is_final", sa.Boolean(), nullable=False),
        sa.Column("author_id", _ID, nullable=True),
        sa.Column("tickets_queued", sa.Integer(), nullable=False),
        _at("created_at"),
        _fk("incident_updates", "incident_id", "incidents", "CASCADE"),
        _fk("incident_updates", "author_id", "agents", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_updates")),
    )
    with op.batch_alter_table("incident_updates") as batch_op:
        batch_op.create_index("ix_incident_updates_incident", ["incident_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_table("incident_updates")
    op.drop_table("incident_tickets")
    op.drop_table("incidents")
    op.drop_table("quality_reviews")
    op.drop_table("quality_scorecards")
    op.drop_table("csat_settings")
    op.drop_table("csat_surveys")
