"""Loads the reference CSV files shipped with the project; safe to run again."""
import csv
from pathlib import Path

from sqlalchemy import select

from portal.extensions import db
from portal.reference.models import DictionaryEntry, GuangdongCity, Region

DATA_DIR = Path(__file__).parent / "data"

DEFAULT_CATEGORIES = [
    "粮食", "蔬菜", "水果", "畜禽肉类", "禽蛋", "水产", "茶叶", "食用油",
    "食用菌", "干货副食", "调味品", "中药材", "其他",
]
DEFAULT_MEASURE_UNITS = ["吨", "公斤", "斤", "克", "件", "箱", "袋", "盒", "瓶", "只", "头", "其他"]


def _rows(name):
    with open(DATA_DIR / name, encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle)


def load_reference_data():
    """Insert what is missing; never overwrite what a province administrator edited."""
    known_cities = set(db.session.scalars(select(GuangdongCity.code)))
    for row in _rows("guangdong_cities.csv"):
        if row["city_code"] not in known_cities:
            db.session.add(GuangdongCity(code=row["city_code"], name=row["city"]))
            known_cities.add(row["city_code"])

    known_regions = set(db.session.scalars(select(Region.code)))

    def add_region(code, **fields):
        if code not in known_regions:
            db.session.add(Region(code=code, **fields))
            known_regions.add(code)

    for row in _rows("assisted_counties.csv"):
        helper = row["helper_city_code"] if row["helper_city_code"] in known_cities else None
        relation = row["relation"]
        add_region(row["province_code"], name=row["province"], level="province",
                   parent_code=None, relation=relation)
        add_region(row["city_code"], name=row["city"], level="city",
                   parent_code=row["province_code"], relation=relation, helper_city_code=helper)
        seed_name = row["seed_name"] if row["seed_name"] and row["seed_name"] != row["county"] else None
        add_region(row["county_code"], name=row["county"], level="county",
                   parent_code=row["city_code"], relation=relation, helper_city_code=helper,
                   key_county=row["key_county"] == "1", seed_name=seed_name)
    db.session.flush()

    for kind, names in (("category", DEFAULT_CATEGORIES), ("measure_unit", DEFAULT_MEASURE_UNITS)):
        existing = set(db.session.scalars(select(DictionaryEntry.name).where(DictionaryEntry.kind == kind)))
        for position, name in enumerate(names):
            if name not in existing:
                db.session.add(DictionaryEntry(kind=kind, name=name, position=position))
    db.session.flush()
