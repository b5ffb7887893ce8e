"""The providers of the accounting sync, and their registry.

A provider is one module with a subclass of `base.Provider` plus one line in `PROVIDERS`; the contract, the
outcome and error classes and the shared loops are in base.py, the HTTP transport in http.py, and the payloads
a provider is asked to write in orb_finance/sync/payloads.py.
"""

from __future__ import annotations

import importlib

from ...errors import OrbFinanceError
from ..payloads import (BalanceTransactionPayload, CreditMemoPayload, CustomerPayload, InvoicePayload, JournalLine,
                        LinePayload, Payload, PaymentPayload, RevenueJournalPayload, payload_hash)
from .base import (BALANCE_TRANSACTION, CREDIT_MEMO, CUSTOMER, INVOICE, OBJECT_TYPES, PAYMENT, REVENUE_JOURNAL,
                   AnswerLost, BalanceLine, Outcome, Pending, Provider, ProviderError, ProviderUnavailable, Removal)

# name -> "module:Class", imported on first use so a run loads only its own provider's client code.
PROVIDERS: dict[str, str] = {
    "beancount": "orb_finance.sync.providers.beancount:BeancountProvider",
    "tryton": "orb_finance.sync.providers.tryton:TrytonProvider",
    "quickbooks": "orb_finance.sync.providers.quickbooks:QuickBooksProvider",
    "netsuite": "orb_finance.sync.providers.netsuite:NetSuiteProvider",
}

__all__ = ["PROVIDERS", "provider_class", "Provider", "ProviderError", "ProviderUnavailable", "AnswerLost",
           "Outcome", "Pending", "Removal", "BalanceLine", "CUSTOMER", "INVOICE", "CREDIT_MEMO", "PAYMENT",
           "BALANCE_TRANSACTION", "REVENUE_JOURNAL", "OBJECT_TYPES", "CustomerPayload", "LinePayload",
           "InvoicePayload", "CreditMemoPayload", "PaymentPayload", "BalanceTransactionPayload",
           "RevenueJournalPayload", "JournalLine", "Payload", "payload_hash"]


def provider_class(name: str) -> type[Provider]:
    try:
        target = PROVIDERS[name]
    except KeyError:
        raise OrbFinanceError(f"Unknown provider {name!r}; known: {', '.join(sorted(PROVIDERS))}.") from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)
