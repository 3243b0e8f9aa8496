"""The year's confirmation deadlines enforced: late forms escalated to the level above, once a day."""
from datetime import datetime

from portal.extensions import db
from portal.reminders import Reminder
from portal.reservations.models import Reservation
from tests.oversight_helpers import prepare_fulfilment


def set_status(unit_id, status):
    form = db.session.scalar(db.select(Reservation).where(Reservation.unit_id == unit_id))
    form.status = status


def test_late_confirmations_are_escalated_to_the_level_above_once_a_day(app, tree, outbox):
    from portal.oversight.escalation import escalate

    with app.app_context():
        units = prepare_fulfilment(tree)
        set_status(units["budget_unit"].unit_id, "submitted")   # waits for 省教育厅 (deadline 28 Feb)
        set_status(units["county_budget"].unit_id, "confirmed")  # waits for 天河区财政局 (deadline 15 Mar)
        db.session.commit()
        assert escalate(now=datetime(2024, 2, 27, 2)) == []     # before any deadline
        kept = escalate(now=datetime(2024, 3, 20, 2))
        db.session.commit()
        told = {r.unit.name: r.text for r in kept}
        assert set(told) == {"省财政厅", "广州市财政局"}
        assert "省教育厅有1份逾期未确认（截止02月28日）" in told["省财政厅"]
        assert "天河区财政局有1份逾期未确认（截止03月15日）" in told["广州市财政局"]
        assert all(r.sender_id is None and r.reason == "overdue" for r in kept)

    assert outbox.received(tree.province_finance.phone, "省教育厅有1份逾期未确认")
    # the daily run twice, and a person's reminder between: nobody gets more than the cap
    runner = app.test_cli_runner()
    for _ in range(3):
        result = runner.invoke(args=["escalate-overdue"], catch_exceptions=False)
        assert result.exit_code == 0 and "逾期提醒" in result.output
    with app.app_context():
        per_day = db.session.execute(db.select(Reminder.unit_id, Reminder.day, db.func.count(Reminder.id))
                                     .group_by(Reminder.unit_id, Reminder.day)).all()
        assert all(count <= 2 for _, _, count in per_day)
