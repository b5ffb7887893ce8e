"""The reporting-currency options of `orbfin build` and `orbfin nightly` (SPEC §3 "Reporting currency").

Owns turning `--reporting-currency CODE --fx-rates FILE` into the dbt vars `reporting_currency` and
`fx_rates_path`, refusing a bad code, a rate file that does not exist, and one option without the other.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from . import paths
from .errors import OrbFinanceError

FX_RATES_ENV = "ORB_FX_RATES_PATH"


def reporting_vars(reporting_currency: str | None, fx_rates: str | os.PathLike[str] | None) -> dict[str, str]:
    """The dbt vars for a reporting currency and its rate file ({} when neither is given).

    Without --fx-rates the rate file is ORB_FX_RATES_PATH (dbt reads it); a relative path is taken relative to
    the current directory, as every command-line path is.
    """
    if not reporting_currency:
        if fx_rates:
            raise OrbFinanceError("--fx-rates needs --reporting-currency (the currency the rates convert into, e.g. USD)")
        return {}
    code = reporting_currency.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise OrbFinanceError(f"--reporting-currency must be an ISO 4217 currency code such as USD, got {reporting_currency!r}")
    if fx_rates:
        path = Path(os.path.expanduser(os.fspath(fx_rates))).resolve()
    elif os.environ.get(FX_RATES_ENV):
        path = paths.resolve(os.environ[FX_RATES_ENV])
    else:
        raise OrbFinanceError(f"--reporting-currency {code} needs a rate file: --fx-rates FILE (or {FX_RATES_ENV}), "
                              "a CSV with columns rate_date, currency, rate")
    if not path.is_file():
        raise OrbFinanceError(f"rate file {path} does not exist (--reporting-currency {code} needs it)")
    return {"reporting_currency": code, "fx_rates_path": str(path)}
