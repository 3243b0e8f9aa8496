"""Every table of the portal, imported once so that the metadata (and Alembic) knows them all."""
from portal.accounts.models import Account, LoginSession, SmsCode, Unit  # noqa: F401
from portal.accounts.second_factor import RecoveryCode, SecondFactor  # noqa: F401
from portal.audit import AuditEvent  # noqa: F401
from portal.jobs.models import Job  # noqa: F401
from portal.oversight.models import FulfilmentImport, FulfilmentLine  # noqa: F401
from portal.reminders import Reminder  # noqa: F401
from portal.records.models import (  # noqa: F401
    PriceStat, PurchaseRecord, QueueCounter, RecordBreakdown, RecordTotal, ReportingPeriod, ReviewEvent, Voucher,
)
from portal.reservations.models import (  # noqa: F401
    ConfirmationSheet, Reservation, ReservationBatch, ReservationEvent, UnitChange, YearPolicy,
)
from portal.reference.models import DictionaryEntry, GuangdongCity, Region  # noqa: F401
