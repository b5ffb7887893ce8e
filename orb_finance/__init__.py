"""orb-finance: the finance warehouse (dbt + DuckDB) and accounting sync for companies that bill with Orb."""

__version__ = "0.1.0"
