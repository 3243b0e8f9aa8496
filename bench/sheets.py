"""Confirmation-sheet benchmark: N PDF sheets of one demo budget unit's form, through make_sheet,
against bare WeasyPrint drawing the same text.

    python -m bench.sheets                       # 50 sheets on SQLite in a temporary folder
    python -m bench.sheets --sheets 200 --out /tmp/sample-sheet.pdf --floor-out /tmp/sheet-floor.pdf

Each sheet timing is one make_sheet call (figures, template, QR code, WeasyPrint, SHA-256, file,
row flush), committed after each call as the workflow's caller does. first_sheet_ms is the
process's first sheet, after WeasyPrint is imported (weasyprint_import_ms, paid once per process,
or at worker start through sheets.warm_up()); first_sheet_cold_ms is the two together. After two
more untimed sheets, the sheets are timed interleaved with the floor (bench/sheet_floor.py: a
minimal HTML document of the same text in the same font, page and tables, drawn by WeasyPrint
alone), one of each in turn, each from a collected heap and charged with its own garbage:
sheet_floor_ratio is p50 sheet ÷ p50 floor, and load_average the 1-minute load at the start and
end of that part. submit_before_* and submit_after_* time whole step-3 requests through the app
with the sheet drawn in the request (as before commit c0fe018) and queued for the worker (as
now), interleaved in the same run; worker_sheet_* is the worker's time per queued sheet;
floor_healthz_* a bare request through the same stack (see bench/submission.py). Wall times
follow the machine's load; the CPU times (*_cpu_*) and the ratios less so. The last line printed
is one JSON object.
"""
import argparse
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from bench.common import peak_rss_mb, percentile, reset_to_demo
from bench.sheet_floor import floor_html, floor_renderer
from bench.submission import submittable_form, time_submissions
from portal import create_app
from portal.accounts.models import Account, Unit
from portal.clock import utcnow
from portal.extensions import db

UNIT_NAME = "广东实验中学"            # demo budget unit under 广东省教育厅
SUPERIOR_PHONE = "13900000011"        # 广东省教育厅 (demo)
FINANCE_PHONE = "13900000001"         # 广东省财政厅 (demo)
WARMUP = 2                            # sheets and floor PDFs drawn untimed after the first sheet


def make_reservation(year):
    """A confirmed-and-finalized form with every figure filled, made directly."""
    from portal.reservations import scope
    from portal.reservations.models import Reservation
    from portal.reservations.policy import ensure_policy

    ensure_policy(year)
    unit = db.session.scalar(select(Unit).where(Unit.name == UNIT_NAME))
    superior = db.session.scalar(select(Account).where(Account.with_phone(SUPERIOR_PHONE)))
    finance = db.session.scalar(select(Account).where(Account.with_phone(FINANCE_PHONE)))
    now = utcnow()
    reservation = Reservation(
        unit_id=unit.id, year=year, canteen_type="shared", shared_filler="self", remark="与广东省教育厅机关共用食堂，由本单位填报",
        canteen_total=Decimal("1088888.57"), ratio=Decimal("30"), reserved_amount=Decimal("326666.57"),
        union_need=True, union_total=Decimal("200000"), union_ratio=Decimal("20"), union_expected=Decimal("40000"),
        union_remark="工会节日慰问品优先通过832平台采购",
        contact_name="罗晓燕", contact_mobile="13900000012", contact_landline="020-83133000",
        union_contact_name="陈伟明", union_contact_mobile="13912345678", union_contact_landline="020-83133001",
        status="final", superior_id=scope.superior_of(unit).id, finance_id=scope.finance_of(unit).id,
        attested_at=now, submitted_at=now, confirmed_at=now, confirmed_by_id=superior.id,
        finalized_at=now, finalized_by_id=finance.id)
    db.session.add(reservation)
    db.session.flush()
    return reservation, finance


def time_sheets_and_floor(app, reservation, actor, rounds):
    """The first sheet of the process, then `rounds` sheets through make_sheet and as many floor
    PDFs (bench.sheet_floor: the same text in the same font and tables, bare WeasyPrint), one of
    each in turn, alternating which goes first, so that the machine's load falls on both alike.
    Each starts from a collected heap (untimed) and is charged with collecting its own garbage:
    make_sheet collects after its render (portal/pdf.py), the floor's time includes a
    gc.collect(1) after it. Without this, each sheet's collection also freed what the floor drawn
    before it had left (10 ms instead of 6 by itself), and a full pass over the process's heap
    fell in whichever came next. Returns the figures, the last sheet made and the floor's PDF."""
    from portal import pdf
    from portal.reservations import sheets

    base_url = app.config["PUBLIC_BASE_URL"]

    def one_sheet():
        sheet = sheets.make_sheet(reservation, "final", actor, instance_path=app.instance_path, base_url=base_url)
        db.session.commit()
        return sheet

    started = time.perf_counter()
    made = [one_sheet()]
    first_ms = (time.perf_counter() - started) * 1000
    floor_doc = floor_html(made[0].printed, sheets.display_code(made[0].verification_code), pdf.font_url())
    draw_floor = floor_renderer()
    for _ in range(WARMUP):
        made.append(one_sheet())
        floor_pdf = draw_floor(floor_doc)

    load_start = os.getloadavg()[0]
    wall = {"sheet": [], "floor": []}
    cpu = {"sheet": [], "floor": []}
    for round_number in range(rounds):
        for kind in ("sheet", "floor") if round_number % 2 == 0 else ("floor", "sheet"):
            gc.collect()  # untimed
            started, started_cpu = time.perf_counter(), time.process_time()
            if kind == "sheet":
                made.append(one_sheet())
            else:
                floor_pdf = draw_floor(floor_doc)
                gc.collect(1)
            wall[kind].append((time.perf_counter() - started) * 1000)
            cpu[kind].append((time.process_time() - started_cpu) * 1000)
    load_end = os.getloadavg()[0]

    codes = {sheet.verification_code for sheet in made}
    files = {sheets.sheet_path(app.instance_path, sheet) for sheet in made}
    assert len(codes) == len(made) and len(files) == len(made) and all(f.exists() for f in files)
    sheet_p50, floor_p50 = statistics.median(wall["sheet"]), statistics.median(wall["floor"])
    figures = {"first_sheet_ms": round(first_ms, 1)}
    for kind in ("sheet", "floor"):
        figures.update({
            f"{kind}_p50_ms": round(statistics.median(wall[kind]), 1),
            f"{kind}_p95_ms": round(percentile(wall[kind], 0.95), 1),
            f"{kind}_max_ms": round(max(wall[kind]), 1),
            # CPU time of this process: less sensitive than wall time to other work on the machine
            f"{kind}_cpu_p50_ms": round(statistics.median(cpu[kind]), 1),
            f"{kind}_cpu_p95_ms": round(percentile(cpu[kind], 0.95), 1),
        })
    figures.update({
        "sheet_floor_ratio": round(sheet_p50 / floor_p50, 3),
        "sheet_floor_cpu_ratio": round(statistics.median(cpu["sheet"]) / statistics.median(cpu["floor"]), 3),
        "pdf_bytes": max(sheet.size for sheet in made),
        "pdf_kb": round(max(sheet.size for sheet in made) / 1024, 1),
        "floor_pdf_kb": round(len(floor_pdf) / 1024, 1),
        "load_average": [round(load_start, 2), round(load_end, 2)],
    })
    return figures, made[-1], floor_pdf


def run(args):
    workdir = tempfile.mkdtemp(prefix="bench-sheets-")
    url = args.database_url or f"sqlite:///{workdir}/bench.sqlite3"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PORTAL_INSTANCE": workdir, "RATELIMIT_ENABLED": False,
                      "LOGIN_CAPTCHA": "off"})
    result = {"sheets": args.sheets, "database": url.split(":")[0].split("+")[0]}
    try:
        with app.app_context():
            from portal.demo import build_demo_reservations
            from portal.reservations import sheets

            reset_to_demo()
            reservation, actor = make_reservation(2024)
            db.session.commit()
            base_url = app.config["PUBLIC_BASE_URL"]

            started = time.perf_counter()
            sheets.warm_up()
            result["weasyprint_import_ms"] = round((time.perf_counter() - started) * 1000, 1)
            figures, last_sheet, floor_pdf = time_sheets_and_floor(app, reservation, actor, args.sheets)
            result.update(figures)
            result["first_sheet_cold_ms"] = round(result["weasyprint_import_ms"] + figures["first_sheet_ms"], 1)
            if args.out:
                shutil.copyfile(sheets.sheet_path(app.instance_path, last_sheet), args.out)
                result["out"] = args.out
            if args.floor_out:
                Path(args.floor_out).write_bytes(floor_pdf)
            # This year's demo forms, one of them returned to its unit, for the submissions
            build_demo_reservations(app.instance_path, base_url)
            db.session.commit()
            form_id, year = submittable_form()
        # Requests run outside our app context, each in its own, as in production.
        if args.submits:
            result.update(time_submissions(app, form_id, year, args.submits))
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sheets", type=int, default=50, help="sheets and floor PDFs to time, one of each in turn (default 50)")
    parser.add_argument("--submits", type=int, default=50,
                        help="submissions to time each way, sheet in the request and queued (default 50; 0: none)")
    parser.add_argument("--out", help="write one sample sheet to this file")
    parser.add_argument("--floor-out", help="write the floor's PDF to this file, to compare with the sheet")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args(argv)
    if args.sheets < 1:
        parser.error("--sheets must be at least 1")
    result = run(args)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
