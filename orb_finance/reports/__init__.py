"""Reports read from the built warehouse: headline numbers, and (nightly) workbooks, CSV and HTML."""
