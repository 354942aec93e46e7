"""qiflow-finance: a finance sign-off gate for qiflow, loaded through its entry point."""

from qiflow_finance.plugin import ROLE, FinanceSignoff

__version__ = "0.1.0"

__all__ = ["ROLE", "FinanceSignoff", "__version__"]
