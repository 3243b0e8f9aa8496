"""The views: the only code that reads a request. One blueprint per area of work."""


def register_blueprints(app):
    from portal.blueprints import (
        accounts, audit_log, auth, budget_units, dashboard, exports, health, home, jobs, notices, oversight, periods,
        records, reference_data, reminders, reports, reservations, reveal, reviews, security, sheets,
    )

    from portal.blueprints import second_factor  # right after auth: its guard runs before every other view

    for module in (auth, second_factor, home, accounts, budget_units, records, periods, reviews, reports, reservations,
                   oversight, notices, reminders, dashboard, sheets, reference_data, audit_log, security, jobs, exports,
                   reveal, health):
        app.register_blueprint(module.bp)
    from portal.blueprints import profile  # 个人中心
    app.register_blueprint(profile.bp)
    from portal.blueprints.errors import register_error_handlers
    register_error_handlers(app)
