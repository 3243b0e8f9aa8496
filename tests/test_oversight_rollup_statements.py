"""/oversight/ and a drill-down run as many SQL statements for a province of many units as for
one of few: the roll-up is summed in the database and only the page's units are read whole."""
import re

from portal.extensions import db
from tests.oversight_rollup_helpers import Province
from tests.sql_helpers import statements as sql_statements

DAY = "year=2024&day=2024-07-01"


def statements(app, client, url):
    """The statements one request of the page runs (after a first request of it), and the page."""
    assert client.get(url).status_code == 200
    with sql_statements(app) as seen:
        response = client.get(url)
    assert response.status_code == 200
    return len(seen), response.get_data(as_text=True)


def pages(app, tree, finance):
    urls = [f"/oversight/?{DAY}", f"/oversight/finance/{tree.gz_finance.unit_id}?{DAY}"]
    counts = {}
    for url in urls:
        counts[url], page = statements(app, finance, url)
        following = re.search(r'href="([^"]*after=\d+[^"]*)#own-units"', page)
        assert following, url  # a full page, with a next one
        counts[url + " (next page)"], _ = statements(app, finance, following.group(1).replace("&amp;", "&"))
    return counts


def test_statements_do_not_grow_with_the_units(app, tree, as_role):
    app.config["PAGE_SIZE"] = 3
    finance = as_role("province_finance")
    with app.app_context():
        Province(tree).build(departments=1, size=3)
        db.session.commit()
    few = pages(app, tree, finance)
    with app.app_context():
        Province(tree, seed=2).build(departments=5, size=12, tree_units=False)
        db.session.commit()
    many = pages(app, tree, finance)
    assert many == few
    assert max(many.values()) <= 15
