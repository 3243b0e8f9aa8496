"""The home pages of a superior budget unit and of a finance department say how many forms wait
for them, from the tallies kept with each change (not by loading the forms)."""
import re

from portal.extensions import db
from tests.factories import make_reservation


def waiting_on_home(page):
    return int(re.search(r"待本单位确认的预留份额 <span[^>]*>(\d+)</span> 份", page).group(1))


def test_the_superior_sees_the_forms_waiting_for_it(app, tree, login):
    with app.app_context():
        make_reservation(tree)  # the school's 2024 form, submitted to 省教育厅
        db.session.commit()
    client = app.test_client()
    login(client, tree.superior_budget.phone)
    page = client.get("/").get_data(as_text=True)
    assert "2024年度预留份额" in page and waiting_on_home(page) == 1
