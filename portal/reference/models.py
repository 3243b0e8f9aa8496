from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db


class GuangdongCity(db.Model):
    """One of Guangdong's 21 prefecture-level cities: the unit of aggregation."""

    __tablename__ = "gd_city"

    #: 6-digit administrative division code, e.g. 440100 for 广州市.
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(20), unique=True)


class Region(db.Model):
    """A western province, prefecture or county that Guangdong helps."""

    __tablename__ = "region"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    #: province, city or county
    level: Mapped[str] = mapped_column(String(10))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"), index=True)
    #: east_west_pairing (东西部协作) or counterpart_support (对口支援)
    relation: Mapped[str] = mapped_column(String(30))
    #: the Guangdong city that helps this county; None where the province itself helps
    helper_city_code: Mapped[str | None] = mapped_column(ForeignKey("gd_city.code"))
    #: 国家乡村振兴重点帮扶县; editable, since the seed leaves four Guizhou counties open
    key_county: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the name as seed 001 writes it, where it differs from today's official name
    seed_name: Mapped[str | None] = mapped_column(String(40))

    parent = relationship("Region", remote_side=[code])
    helper_city = relationship(GuangdongCity)


class DictionaryEntry(db.Model):
    """An editable choice list entry: record categories (品类) and units of measure (单位)."""

    __tablename__ = "dictionary_entry"
    __table_args__ = (db.UniqueConstraint("kind", "name", name="uq_dictionary_entry_kind_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: category or measure_unit
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
