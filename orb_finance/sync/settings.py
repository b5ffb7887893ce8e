"""The accounting-sync settings (SPEC §5): a YAML file (`--config`, default `accounting_sync.yml`).

Owns parsing and validating the file. Secrets are never read from it: the file names an environment
variable (`password_env: TRYTON_PASSWORD`) and the value is read from the environment when needed.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from .. import paths
from ..errors import OrbFinanceError

DEFAULT_CONFIG = "accounting_sync.yml"
DEFAULT_STATE_PATH = "warehouse/accounting_sync_state.sqlite"

# Keys that would hold a secret. Their value must come from the environment: `<key>_env: VARIABLE`.
SECRET_KEYS = {"password", "token", "secret", "api_key", "apikey", "client_secret", "access_token",
               "refresh_token", "private_key", "consumer_secret", "token_secret"}

EXAMPLE = """\
# accounting_sync.yml (SPEC §5)
provider: beancount            # beancount | tryton
minimum_issue_date: null       # only invoices issued on or after this date (YYYY-MM-DD)
minimum_amount: null           # only invoices whose total is at least this amount
create_customers: true         # off: every record of an unmapped customer is skipped
skip_zero_invoices: false
skip_zero_line_items: false
state_path: warehouse/accounting_sync_state.sqlite
beancount:
  ledger_path: warehouse/ledger/orb.beancount
tryton:
  url: http://127.0.0.1:8000
  database: orb
  user: admin
  password_env: TRYTON_PASSWORD   # the NAME of the environment variable holding the password
"""


@dataclass(frozen=True)
class Settings:
    provider: str = "beancount"
    minimum_issue_date: dt.date | None = None
    minimum_amount: Decimal | None = None
    create_customers: bool = True
    skip_zero_invoices: bool = False
    skip_zero_line_items: bool = False
    state_path: Path = field(default_factory=lambda: paths.resolve(DEFAULT_STATE_PATH))
    provider_settings: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None

    def describe(self) -> str:
        """The settings in one line, for logs (no secrets: provider settings hold only env-var names)."""
        parts = [f"provider={self.provider}"]
        if self.minimum_issue_date:
            parts.append(f"minimum_issue_date={self.minimum_issue_date}")
        if self.minimum_amount is not None:
            parts.append(f"minimum_amount={self.minimum_amount}")
        parts += [f"create_customers={self.create_customers}", f"skip_zero_invoices={self.skip_zero_invoices}",
                  f"skip_zero_line_items={self.skip_zero_line_items}"]
        return ", ".join(parts)


def load(config: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read the settings file. A missing default file means the defaults (Beancount); a missing named file is an error."""
    path = paths.resolve(config or DEFAULT_CONFIG)
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise OrbFinanceError(f"{path}: not valid YAML ({exc}).") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise OrbFinanceError(f"{path}: expected a mapping of settings, got {type(loaded).__name__}.")
        raw = loaded or {}
    elif config is not None:
        raise OrbFinanceError(f"Accounting sync settings file {path} does not exist (example:\n{EXAMPLE})")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    return from_mapping(raw, source=path if path.exists() else None)


def from_mapping(raw: dict[str, Any], source: Path | None = None) -> Settings:
    where = str(source) if source else "settings"
    known = {"provider", "minimum_issue_date", "minimum_amount", "create_customers", "skip_zero_invoices",
             "skip_zero_line_items", "state_path"}
    from .providers import PROVIDERS

    provider = str(raw.get("provider") or "beancount").strip().lower()
    if provider not in PROVIDERS:
        raise OrbFinanceError(f"{where}: provider {provider!r} is not one of: {', '.join(sorted(PROVIDERS))}.")
    unknown = set(raw) - known - set(PROVIDERS)
    if unknown:
        raise OrbFinanceError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}; known: "
                              f"{', '.join(sorted(known))} and one section per provider.")
    provider_settings = raw.get(provider) or {}
    if not isinstance(provider_settings, dict):
        raise OrbFinanceError(f"{where}: the {provider!r} section must be a mapping.")
    for section in PROVIDERS:
        _refuse_secrets(raw.get(section) or {}, f"{where}: {section}")
    _refuse_secrets({k: v for k, v in raw.items() if k not in PROVIDERS}, where)

    return Settings(
        provider=provider,
        minimum_issue_date=_date(raw.get("minimum_issue_date"), "minimum_issue_date", where),
        minimum_amount=_decimal(raw.get("minimum_amount"), "minimum_amount", where),
        create_customers=_bool(raw.get("create_customers", True), "create_customers", where),
        skip_zero_invoices=_bool(raw.get("skip_zero_invoices", False), "skip_zero_invoices", where),
        skip_zero_line_items=_bool(raw.get("skip_zero_line_items", False), "skip_zero_line_items", where),
        state_path=paths.resolve(raw.get("state_path") or DEFAULT_STATE_PATH),
        provider_settings=dict(provider_settings),
        source=source,
    )


def secret_from_env(section: dict[str, Any], key: str, provider: str, *, required: bool = True) -> str | None:
    """The secret `key` of a provider section: the value of the environment variable named by `<key>_env`."""
    var = section.get(f"{key}_env")
    if not var:
        if required:
            raise OrbFinanceError(f"{provider}: set {key}_env to the name of the environment variable holding the {key}.")
        return None
    value = os.environ.get(str(var))
    if value is None and required:
        raise OrbFinanceError(f"{provider}: the environment variable {var} (named by {key}_env) is not set.")
    return value


def _refuse_secrets(section: dict[str, Any], where: str) -> None:
    if not isinstance(section, dict):
        return
    for key in section:
        if str(key).lower() in SECRET_KEYS:
            raise OrbFinanceError(
                f"{where}: {key!r} must not be written in the settings file; put it in an environment variable "
                f"and name that variable with {key}_env (e.g. {key}_env: TRYTON_{str(key).upper()}).")


def _date(value: Any, name: str, where: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise OrbFinanceError(f"{where}: {name} must be a date YYYY-MM-DD, got {value!r}.") from None


def _decimal(value: Any, name: str, where: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        raise OrbFinanceError(f"{where}: {name} must be a number, got {value!r}.") from None
    if not result.is_finite():
        raise OrbFinanceError(f"{where}: {name} must be a finite number, got {value!r}.")
    return result


def _bool(value: Any, name: str, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise OrbFinanceError(f"{where}: {name} must be true or false, got {value!r}.")
