"""Sample Orb exports: a deterministic, realistic generator of the export directory (SPEC §2).

`generate.generate_sample` is the entry point (`orbfin generate-sample`). The package owns the simulated
Orb account (catalog, customers, invoices, credits, payments) and the delivery files it writes.
"""
