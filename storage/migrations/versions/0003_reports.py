"""reports: categories, reports, their photos and history, drafts; residents.banned_at

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 11:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# The eight default report categories (README, "For residents"): (code, name vi, name en, description vi,
# description en, working days to resolve). A city edits the table to change them.
DEFAULT_CATEGORIES = [
    ("roads", "Giao thông, đường sá", "Traffic and roads",
     "Ổ gà, đường hỏng, đèn tín hiệu, biển báo, ùn tắc", "Potholes, broken roads, traffic lights, signs, jams", 10),
    ("sanitation", "Môi trường, vệ sinh", "Environment and sanitation",
     "Rác thải, nước thải, ô nhiễm, ngập úng", "Garbage, sewage, pollution, flooding", 10),
    ("urban_order", "Trật tự đô thị", "Urban order",
     "Lấn chiếm vỉa hè, xây dựng trái phép, quảng cáo rao vặt",
     "Sidewalk encroachment, illegal building, fly-posting", 10),
    ("infrastructure", "Hạ tầng", "Infrastructure",
     "Đèn chiếu sáng, cấp nước, điện, cây xanh", "Street lights, water supply, power, trees", 10),
    ("security", "An ninh trật tự", "Public security",
     "Gây rối, trộm cắp, tụ tập đông người", "Disturbances, theft, unruly crowds", 5),
    ("food_safety", "An toàn thực phẩm", "Food safety",
     "Thực phẩm bẩn, cơ sở kinh doanh mất vệ sinh", "Unsafe food, unhygienic food businesses", 5),
    ("health", "Y tế", "Health",
     "Dịch bệnh, vệ sinh phòng dịch, cơ sở y tế", "Outbreaks, disease control, health facilities", 5),
    ("other", "Khác", "Other",
     "Vấn đề khác cần chính quyền biết", "Anything else the city should know about", 10),
]


def upgrade() -> None:
    categories = op.create_table('categories',
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('name_vi', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('name_en', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('description_vi', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('description_en', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('resolve_days', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.bulk_insert(categories, [
        {"code": code, "name_vi": name_vi, "name_en": name_en, "description_vi": about_vi,
         "description_en": about_en, "position": i, "resolve_days": days, "active": True}
        for i, (code, name_vi, name_en, about_vi, about_en, days) in enumerate(DEFAULT_CATEGORIES)
    ])
    op.create_table('report_drafts',
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('editing', sa.Boolean(), nullable=False),
    sa.Column('category_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('photos', sa.JSON(), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('area_code', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('address_text', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('media_group_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('resident_id')
    )
    op.create_table('reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=True),
    sa.Column('reporter_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('category_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('area_code', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('address_text', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('priority', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('due_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['area_code'], ['areas.code'], ),
    sa.ForeignKeyConstraint(['category_code'], ['categories.code'], ),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reports_area_code'), ['area_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_category_code'), ['category_code'], unique=False)
        batch_op.create_index('ix_reports_resident_created', ['resident_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_state'), ['state'], unique=False)

    op.create_table('report_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('actor_telegram_id', sa.BigInteger(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('report_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_events_report_id'), ['report_id'], unique=False)

    op.create_table('report_photos',
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('telegram_file_id', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
    sa.Column('file_unique_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('report_id', 'position')
    )
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('banned_at', storage.types.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_column('banned_at')

    op.drop_table('report_photos')
    with op.batch_alter_table('report_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_events_report_id'))

    op.drop_table('report_events')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_state'))
        batch_op.drop_index('ix_reports_resident_created')
        batch_op.drop_index(batch_op.f('ix_reports_category_code'))
        batch_op.drop_index(batch_op.f('ix_reports_area_code'))

    op.drop_table('reports')
    op.drop_table('report_drafts')
    op.drop_table('categories')
