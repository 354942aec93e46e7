"""The store: every SQL statement qiflow runs, and the only package that imports SQLAlchemy.

Each repository (``tx.projects``, ``tx.events``, ``tx.signoffs``, ``tx.people``,
``tx.outbox`` ...) holds the statements of one aggregate and hands out frozen values.
"""

from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import SQLAlchemyError as DriverError

from qiflow.store._sql import SQLITE_PRAGMAS, create_sql_engine, normalise_url
from qiflow.store.events import NewEvent
from qiflow.store.projects import ProjectFilter, StoredProject
from qiflow.store.risks import RiskDue, RiskFilter
from qiflow.store.subscribers import Subscriber
from qiflow.store.transaction import Store, Tx

__all__ = [
    "SQLITE_PRAGMAS",
    "DriverError",
    "IntegrityError",
    "NewEvent",
    "ProjectFilter",
    "RiskDue",
    "RiskFilter",
    "Store",
    "StoredProject",
    "Subscriber",
    "Tx",
    "create_sql_engine",
    "normalise_url",
]
