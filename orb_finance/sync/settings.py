"""The accounting-sync settings (SPEC §5): a YAML file (`--config`, default `accounting_sync.yml`).

Owns reading and checking the file against a declared schema: every key is known (a typo is an error naming
it and the keys allowed there), every value is checked before anything is built or sent, relative paths in
the file are relative to the file's folder, and secrets never come from the file: a provider section names
an environment variable (`password_env: TRYTON_PASSWORD`), whose value is read, checked and registered with
the redaction rule (orb_finance/redact.py) here.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Mapping

import yaml

from .. import paths, redact
from ..errors import OrbFinanceError

DEFAULT_CONFIG = "accounting_sync.yml"
DEFAULT_STATE_PATH = "warehouse/accounting_sync_state.sqlite"
REVENUE_RECOGNITION = ("invoice", "warehouse")

# Keys that would hold a secret. Their value must come from the environment: `<key>_env: VARIABLE`.
SECRET_KEYS = {"password", "token", "secret", "api_key", "apikey", "client_secret", "access_token",
               "refresh_token", "private_key", "consumer_secret", "token_secret", "consumer_key", "token_id",
               "client_id"}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

EXAMPLE = """\
# accounting_sync.yml (SPEC §5)
provider: beancount            # beancount | tryton | quickbooks | netsuite
minimum_issue_date: null       # only invoices issued on or after this date (YYYY-MM-DD)
minimum_amount: null           # only invoices whose total is at least this amount
create_customers: true         # off: every record of an unmapped customer is skipped
skip_zero_invoices: false
skip_zero_line_items: false
revenue_recognition: invoice   # invoice | warehouse (journals of recognized revenue from the warehouse)
state_path: warehouse/accounting_sync_state.sqlite   # relative paths: relative to this file's folder
beancount:
  ledger_path: warehouse/ledger/orb.beancount
tryton:
  url: http://127.0.0.1:8000
  database: orb
  user: admin
  password_env: TRYTON_PASSWORD   # the NAME of the environment variable holding the password
"""


# --- the schema -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    """One setting: its kind, default and help. kinds: str, bool, int, number, date, decimal, path, url, env
    (the name of an environment variable holding a secret), choice, section (a mapping of `fields`),
    str_map (free keys, string values: e.g. item_map)."""
    kind: str
    default: Any = None
    help: str = ""
    choices: tuple = ()
    minimum: float | None = None
    required: bool = False           # env: the variable it names must be set when the provider is used
    fields: Mapping[str, "Field"] | None = None


def _fail(where: str, message: str) -> OrbFinanceError:
    return OrbFinanceError(f"{where}: {message}")


def check_value(spec: Field, value: Any, where: str, base_dir: Path) -> Any:
    """The checked (and converted) value of one setting; raises OrbFinanceError naming `where`."""
    if (value is None or value == "") and spec.kind == "section":
        return check_section(spec.fields or {}, {}, where, base_dir)
    if value is None or value == "":
        if spec.required and spec.default is None:
            raise _fail(where, f"is required ({spec.help})" if spec.help else "is required")
        return spec.default if spec.kind != "path" or spec.default is None else paths.resolve(spec.default)
    kind = spec.kind
    if kind == "str":
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise _fail(where, f"must be text, got {type(value).__name__}")
        return str(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
        raise _fail(where, f"must be true or false, got {value!r}")
    if kind in ("int", "number"):
        try:
            number = int(str(value)) if kind == "int" else float(str(value))
        except ValueError:
            raise _fail(where, f"must be {'a whole number' if kind == 'int' else 'a number'}, got {value!r}") from None
        if spec.minimum is not None and number < spec.minimum:
            raise _fail(where, f"must be at least {spec.minimum:g}, got {value!r}")
        return number
    if kind == "date":
        try:
            return dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise _fail(where, f"must be a date YYYY-MM-DD, got {value!r}") from None
    if kind == "decimal":
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            raise _fail(where, f"must be a number, got {value!r}") from None
        if not result.is_finite():
            raise _fail(where, f"must be a finite number, got {value!r}")
        return result
    if kind == "path":
        p = Path(os.path.expanduser(str(value)))
        return p if p.is_absolute() else (base_dir / p).resolve()
    if kind == "url":
        text = str(value).strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", text):
            raise _fail(where, f"must be an http(s) URL such as http://127.0.0.1:8000, got {value!r}")
        return text
    if kind == "env":
        text = str(value).strip()
        if not ENV_NAME.match(text):
            raise _fail(where, f"must be the NAME of an environment variable (e.g. TRYTON_PASSWORD), got {value!r}")
        return text
    if kind == "choice":
        text = str(value).strip().lower()
        if text not in spec.choices:
            raise _fail(where, f"must be one of {', '.join(spec.choices)}, got {value!r}")
        return text
    if kind == "str_map":
        if not isinstance(value, dict):
            raise _fail(where, "must be a mapping (key: value lines)")
        return {str(k): str(v) for k, v in value.items() if v is not None}
    if kind == "section":
        return check_section(spec.fields or {}, value, where, base_dir)
    raise ValueError(kind)


def check_section(fields: Mapping[str, Field], raw: Any, where: str, base_dir: Path) -> dict[str, Any]:
    """Check a mapping against `fields`: unknown keys and secrets written in the file are refused."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _fail(where, "must be a mapping of settings")
    for key in raw:
        if str(key).lower() in SECRET_KEYS and str(key) not in fields:
            raise _fail(where, f"{key!r} must not be written in the settings file; put it in an environment "
                               f"variable and name that variable with {key}_env (e.g. {key}_env: ORB_{str(key).upper()})")
    unknown = sorted(str(k) for k in raw if k not in fields)
    if unknown:
        raise _fail(where, f"unknown setting(s) {', '.join(unknown)}; allowed here: {', '.join(sorted(fields))}")
    return {name: check_value(spec, raw.get(name), f"{where}: {name}" if where else name, base_dir)
            for name, spec in fields.items()}


TOP_FIELDS: dict[str, Field] = {
    "provider": Field("str", "beancount", "beancount, tryton, quickbooks or netsuite"),
    "minimum_issue_date": Field("date", None, "only invoices issued on or after this date"),
    "minimum_amount": Field("decimal", None, "only invoices whose total is at least this"),
    "create_customers": Field("bool", True, "off: every record of an unmapped customer is skipped"),
    "skip_zero_invoices": Field("bool", False),
    "skip_zero_line_items": Field("bool", False),
    "revenue_recognition": Field("choice", "invoice", choices=REVENUE_RECOGNITION),
    "state_path": Field("path", DEFAULT_STATE_PATH, "the sync state store (SQLite)"),
}


# --- the settings ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    provider: str = "beancount"
    minimum_issue_date: dt.date | None = None
    minimum_amount: Decimal | None = None
    create_customers: bool = True
    skip_zero_invoices: bool = False
    skip_zero_line_items: bool = False
    revenue_recognition: str = "invoice"
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
                  f"skip_zero_line_items={self.skip_zero_line_items}",
                  f"revenue_recognition={self.revenue_recognition}"]
        return ", ".join(parts)

    def secret(self, key: str) -> str | None:
        """The value of the provider secret `key` (from the variable named by `<key>_env`), or None."""
        var = self.provider_settings.get(f"{key}_env")
        return os.environ.get(var) if var else None


class _Loader(yaml.SafeLoader):
    """YAML without implicit timestamps: dates stay text and are checked here (2026-02-30 is a clear error,
    not a traceback from inside the YAML parser)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def config_path(config: str | os.PathLike[str] | None) -> Path:
    """The settings file: `config` (relative to the current directory), else accounting_sync.yml in the current
    directory, else in the project root (which need not exist: the defaults then apply)."""
    if config is not None:
        return Path(os.path.expanduser(os.fspath(config))).resolve()
    here = Path.cwd() / DEFAULT_CONFIG
    return here if here.exists() else paths.resolve(DEFAULT_CONFIG)


def read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OrbFinanceError(f"{path}: cannot be read ({exc.strerror}).") from None
    try:
        loaded = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        # Never print the offending line: it may hold a value someone pasted by mistake (a password).
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise OrbFinanceError(f"{path}: not valid YAML{where}: {redact.redact(problem)}.") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise OrbFinanceError(f"{path}: expected a mapping of settings, got {type(loaded).__name__}.")
    return loaded or {}


def load(config: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read and check the settings. A missing default file means the defaults (Beancount); a missing file named
    on the command line is an error."""
    path = config_path(config)
    raw: dict[str, Any] = {}
    if path.exists():
        raw = read_file(path)
    elif config is not None:
        raise OrbFinanceError(f"Accounting sync settings file {path} does not exist (example:\n{EXAMPLE})")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    return from_mapping(raw, source=path if path.exists() else None)


def from_mapping(raw: dict[str, Any], source: Path | None = None, *, check_environment: bool = True) -> Settings:
    """Check a settings mapping. Paths written in it are relative to the settings file's folder (the project
    root when there is no file). check_environment: the secrets the active provider needs must be set."""
    from .providers import PROVIDERS, provider_class

    where = str(source) if source else "settings"
    base_dir = source.parent if source else paths.PROJECT_ROOT
    provider = str(raw.get("provider") or "beancount").strip().lower()
    if provider not in PROVIDERS:
        raise OrbFinanceError(f"{where}: provider {provider!r} is not one of: {', '.join(sorted(PROVIDERS))}.")
    sections = {name: Field("section", fields=provider_class(name).SETTINGS) for name in PROVIDERS}
    values = check_section({**TOP_FIELDS, **sections}, raw, where, base_dir)
    provider_settings = values[provider]
    settings = Settings(
        provider=provider,
        minimum_issue_date=values["minimum_issue_date"],
        minimum_amount=values["minimum_amount"],
        create_customers=values["create_customers"],
        skip_zero_invoices=values["skip_zero_invoices"],
        skip_zero_line_items=values["skip_zero_line_items"],
        revenue_recognition=values["revenue_recognition"],
        state_path=values["state_path"],
        provider_settings=provider_settings,
        source=source,
    )
    register_secrets(settings, check_environment=check_environment, where=where)
    cls = provider_class(provider)
    if check_environment and hasattr(cls, "check_settings"):
        cls.check_settings(settings)
    return settings


def register_secrets(settings: Settings, *, check_environment: bool = True, where: str = "settings") -> list[str]:
    """Every secret the settings name (any `*_env` key of any provider section): registered with the redaction
    rule; the active provider's required ones must be set. Returns the values found."""
    from .providers import provider_class

    found = []
    fields = provider_class(settings.provider).SETTINGS
    for key, spec in fields.items():
        if spec.kind != "env":
            continue
        var = settings.provider_settings.get(key)
        value = os.environ.get(var) if var else None
        if value:
            found.append(value)
        elif check_environment and spec.required:
            raise OrbFinanceError(f"{where}: {settings.provider}: the environment variable {var} (named by {key}) is "
                                  "not set" if var else f"{where}: {settings.provider}: {key} is required")
    redact.register(*found)
    return found


def secret_from_env(section: dict[str, Any], key: str, provider: str, *, required: bool = True) -> str | None:
    """The secret `key` of a checked provider section: the value of the environment variable named by `<key>_env`."""
    var = section.get(f"{key}_env")
    if not var:
        if required:
            raise OrbFinanceError(f"{provider}: set {key}_env to the name of the environment variable holding the {key}.")
        return None
    value = os.environ.get(str(var))
    if value is None and required:
        raise OrbFinanceError(f"{provider}: the environment variable {var} (named by {key}_env) is not set.")
    redact.register(value)
    return value

