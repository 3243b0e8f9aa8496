"""`flask demo`: a believable province in which every page has something to show, oversight
included (a year of 832 purchases, some units complete and some far behind, reminders, and
records approved month by month)."""
from sqlalchemy import func, select

from portal.extensions import db
from portal.oversight.models import FulfilmentImport
from portal.records.models import RecordBreakdown
from portal.reminders import Reminder


def test_the_demo_loads_every_area_and_says_so(app):
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["demo"], catch_exceptions=False)
    assert result.exit_code == 0 and "广东省财政厅" in result.output
    with app.app_context():
        from datetime import date

        from portal.accounts.models import Account
        from portal.oversight import completion
        from portal.oversight.scope import OrgMap

        imports = db.session.scalars(select(FulfilmentImport).order_by(FulfilmentImport.as_of)).all()
        assert len(imports) >= 6 and len({i.as_of for i in imports}) == len(imports)
        org = OrgMap()
        finance = db.session.scalar(select(Account).where(Account.with_phone("13900000001"))).unit_id
        figures = completion.unit_figures(org.units_of(org.finance_subtree(finance)), imports[-1].year,
                                          imports[-1].as_of)
        shares = [f.canteen_completion for f in figures if f.canteen_completion is not None]
        assert max(shares) >= 60 and min(shares) < 30  # some well along, some far behind
        assert db.session.scalar(select(func.count(Reminder.id))) >= 1
        months = db.session.scalars(select(RecordBreakdown.key).where(
            RecordBreakdown.scope == "", RecordBreakdown.dimension == "month")).all()
        assert len(months) >= min(date.today().month, 2)
    with app.app_context():
        again = app.test_cli_runner().invoke(args=["demo"], catch_exceptions=False)
        assert again.exit_code == 0  # loading it twice adds nothing twice
        assert db.session.scalar(select(func.count(FulfilmentImport.id))) == len(imports)
