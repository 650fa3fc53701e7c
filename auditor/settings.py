"""Config file + environment -> one frozen Settings object.

Every value can come from `auditor.yaml` or from `AUDITOR_<SECTION>__<KEY>` environment
variables (environment wins). Unknown keys and bad values are errors that name the file,
line and key. Secrets are only ever referenced (an environment variable or file name),
never written in the config.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from auditor.config_env import ENV_PREFIX, EnvError, EnvOverrides, env_overrides
from auditor.errors import BadInputError, one_line
from auditor.model import Service, Severity
from auditor.report.formats import FORMATS
from auditor.yamlsafe import YamlError, read_capped, read_yaml

DEFAULT_CONFIG = Path("auditor.yaml")
MAX_CONFIG_BYTES = 1024 * 1024
INTERNAL_FIELDS = ("source", "locations")  # not config keys: where the config came from


class ConfigError(BadInputError):
    """Bad configuration: the message names file, line and key. Exit code 2."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


AccountId = Annotated[str, Field(pattern=r"^\d{12}$")]


class AccountConfig(_Section):
    id: AccountId
    role_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
    name: str | None = None


class OrganizationConfig(_Section):
    role_name: str = "auditor"
    include: tuple[AccountId, ...] = ()
    exclude: tuple[AccountId, ...] = ()
    # with workers, the leader keeps the account list in Redis this long (0: ask every cycle)
    cache_seconds: int = Field(default=900, ge=0)


class ScheduleConfig(_Section):
    scan: str = "every 15m"  # "every 15m" / "every 1h" / a 5-field cron expression
    jitter_seconds: int = Field(default=30, ge=0)
    report: str | None = None  # cron for report publication, e.g. "0 6 * * *"
    retention_days: int = Field(default=400, ge=1)
    misfire_grace_seconds: int = Field(default=300, ge=1)
    shutdown_grace_seconds: int = Field(default=60, ge=0)
    leader_lease_seconds: int = Field(default=60, ge=5)

    @field_validator("scan", "report")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if re.fullmatch(r"every\s+\d+\s*[smhd]", value.strip()):
            return value.strip()
        if len(value.split()) == 5:
            return _cron(value)
        raise ValueError("expected 'every <N><s|m|h|d>' or a 5-field cron expression")


def _cron(value: str) -> str:
    """A 5-field cron expression the scheduler accepts (the daemon's own parser decides)."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not a valid cron expression ({exc})") from None
    return value


class RulesConfig(_Section):
    paths: tuple[str, ...] = ()
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    disabled: tuple[str, ...] = ()
    # when set, only rules matching these ids/globs run (`auditor scan --rule`)
    only: tuple[str, ...] = ()
    builtin: bool = True


class ExemptionConfig(_Section):
    rule: str
    resource: str = "*"  # ARN glob
    account: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    # principal ARN glob (access.* rules): applies only when every session's caller matches
    principal: str | None = None
    reason: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    expires: date


class TagExemptionConfig(_Section):
    """Exemptions a resource grants itself with tags: off unless a rule is listed here."""

    rules: tuple[str, ...] = ()  # rule ids (or globs) that resource tags may exempt
    allow_critical: bool = False  # critical rules only when listed by exact id AND this is true
    max_days: int = Field(default=30, ge=1, le=366)  # an auditor:exempt-until further out: ignored


class ExemptionPolicyConfig(_Section):
    """What an exemption may be: checked at start (exit 2), before anything is collected."""

    max_days: int = Field(default=365, ge=1)  # longest lifetime, from today to `expires`
    allow_all_rules: bool = False  # rule "*" (or any glob matching every loaded rule)
    allow_unscoped: bool = False  # resource "*" with no account and no tags
    tags: TagExemptionConfig = TagExemptionConfig()


class SecretAllowConfig(_Section):
    """A known non-secret for the secret rules: by 12-hex hash or by variable-name glob."""

    hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{12}$")
    name: str | None = Field(default=None, min_length=1)  # glob on the variable/key/flag name
    rule: str = "*"  # rule id or glob
    reason: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    expires: date

    @model_validator(mode="after")
    def _one_selector(self) -> SecretAllowConfig:
        if (self.hash is None) == (self.name is None):
            raise ValueError("give exactly one of hash (12 hex) or name (a glob)")
        return self


class SecretsConfig(_Section):
    allow: tuple[SecretAllowConfig, ...] = ()


class IacConfig(_Section):
    terraform_states: tuple[str, ...] = ()
    cloudformation_managed: bool = True


class S3ReportConfig(_Section):
    bucket: str = ""
    prefix: str = ""
    object_lock_days: int = Field(default=0, ge=0)
    region: str | None = None


class ReportsConfig(_Section):
    dir: Path = Path("./reports")
    formats: tuple[str, ...] = tuple(FORMATS)
    s3: S3ReportConfig = S3ReportConfig()
    retention_days: int = Field(default=2555, ge=1)  # seven years
    base_url: str | None = None  # where users open reports (links in Slack)

    @field_validator("formats")
    @classmethod
    def _formats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in FORMATS]
        if unknown:
            raise ValueError(f"unknown format {unknown[0]!r} (valid: {', '.join(FORMATS)})")
        return value


class SigningConfig(_Section):
    key_file: Path | None = Path("./auditor-signing.key")
    key_env: str | None = None  # name of an env var holding the PEM private key
    kms_key_id: str | None = None


class SlackRoute(_Section):
    destination: str  # a channel (Web API) or a webhook env var name prefixed "env:"
    min_severity: Severity | None = None
    rules: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    tag: dict[str, str] = Field(default_factory=dict)


class SlackConfig(_Section):
    webhook_url_env: str | None = "AUDITOR_SLACK_WEBHOOK"
    webhook_url_file: Path | None = None
    token_env: str | None = None
    token_file: Path | None = None
    default_channel: str | None = None
    min_severity: Severity = Severity.HIGH
    routes: tuple[SlackRoute, ...] = ()
    tag_channels: dict[str, dict[str, str]] = Field(default_factory=dict)
    reminder_hours: float = Field(default=24, gt=0)
    max_findings_per_message: int = Field(default=20, ge=1, le=40)
    timeout_seconds: float = Field(default=10, gt=0)
    api_url: str | None = None  # Web API base URL override (Slack Enterprise Grid / tests)


class WebhookConfig(_Section):
    """A generic JSON webhook (notify/webhook.py): every alert at or above `min_severity`,
    every coverage and remediation alert, as one JSON document per alert. The URL is a
    secret: by reference to an environment variable or a file only."""

    url_env: str | None = None
    url_file: Path | None = None
    min_severity: Severity = Severity.HIGH


class RemediationConfig(_Section):
    mode: Literal["off", "dry-run", "enforce"] = "dry-run"
    rules: tuple[str, ...] = ()
    kill_switch: bool = False
    max_actions_per_cycle: int = Field(default=5, ge=0)
    max_actions_per_account: int = Field(default=3, ge=0)
    max_percent_per_group: float = Field(default=10, ge=0, le=100)
    min_consecutive_cycles: int = Field(default=2, ge=1)
    windows: tuple[str, ...] = ()  # cron expressions of window starts
    window_minutes: int = Field(default=120, ge=1)
    timezone: str = "UTC"
    asg_strategy: Literal["instance-refresh", "terminate-one"] = "instance-refresh"
    min_healthy_percentage: int = Field(default=90, ge=0, le=100)
    instance_warmup_seconds: int = Field(default=300, ge=0)
    force_nodegroup_update: bool = False
    # rule ids/globs whose planned actions wait for an operator's approval (auditor serve)
    require_approval: tuple[str, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a known IANA time zone (e.g. UTC, Europe/Paris)"
            ) from None
        return value

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from croniter import croniter

        for expression in value:
            if len(expression.split()) != 5 or not croniter.is_valid(expression):
                raise ValueError(f"{expression!r} is not a 5-field cron expression")
        return value


class ListenConfig(_Section):
    listen: str = "127.0.0.1:8080"

    @field_validator("listen")
    @classmethod
    def _hostport(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:8080")
        return value


class ApiConfig(ListenConfig):
    """`auditor serve`: behind a TLS proxy set secure_cookies; exemptions requested in the
    web app live at most max_exemption_days."""

    secure_cookies: bool = False
    max_exemption_days: int = Field(default=90, ge=1, le=3650)
    max_body_bytes: int = Field(default=65536, ge=1024, le=10_485_760)
    login_failures_per_minute: int = Field(default=10, ge=1)
    idle_timeout_seconds: int = Field(default=5, ge=1, le=300)


class MetricsConfig(ListenConfig):
    listen: str = "127.0.0.1:9464"


class ImageLayersConfig(_Section):
    """Scanning image layers for credential files: off by default, bounded when on."""

    enabled: bool = False
    max_bytes_per_image: int = Field(default=256 * 1024 * 1024, ge=1)
    max_bytes_per_cycle: int = Field(default=2 * 1024 * 1024 * 1024, ge=1)
    max_file_bytes: int = Field(default=1024 * 1024, ge=1, le=64 * 1024 * 1024)


class ImagesConfig(_Section):
    """What is read inside the ECR images in use (manifest, config, optionally layers)."""

    config_max_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    layers: ImageLayersConfig = ImageLayersConfig()


class CollectConfig(_Section):
    """How collection calls AWS, and when it stops waiting: per call (connect/read
    timeouts, retries), per (account, region, service) unit, and for the whole cycle.
    What is not done by its deadline is a collection gap; the cycle still ends."""

    concurrency: int = Field(default=8, ge=1, le=64)
    max_attempts: int = Field(default=8, ge=1, le=20)
    connect_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    read_timeout_seconds: float = Field(default=60.0, gt=0, le=900)
    unit_deadline_seconds: float = Field(default=900.0, gt=0, le=86400)
    cycle_deadline_seconds: float = Field(default=1800.0, gt=0, le=86400)
    images: ImagesConfig = ImagesConfig()


class LookupConfig(_Section):
    """CloudTrail LookupEvents fills in the actor of drift nobody reported on the feed."""

    enabled: bool = False
    max_per_cycle: int = Field(default=20, ge=0, le=1000)
    # LookupEvents allows 2 requests per second per account and region
    rate_per_second: float = Field(default=2.0, gt=0, le=2.0)
    lookback_hours: int = Field(default=24, ge=1, le=2160)


class EventsConfig(_Section):
    """The event feed (EventBridge -> SQS): micro-cycles within seconds of a change."""

    queue_url: str | None = None
    region: str | None = None  # the queue's region (default: from the URL)
    # poison messages are sent here and deleted; without it the queue's redrive policy
    # moves them after maxReceiveCount receives
    dead_letter_url: str | None = None
    batch_size: int = Field(default=10, ge=1, le=10)
    wait_seconds: int = Field(default=20, ge=0, le=20)
    visibility_timeout_seconds: int = Field(default=300, ge=1, le=43200)
    max_lag_seconds: int = Field(default=300, ge=1)  # older waiting events: feed unhealthy
    # the full cycle's schedule while the feed is healthy (reconciliation), e.g. "every 6h"
    healthy_scan: str | None = None
    lookup: LookupConfig = LookupConfig()

    @field_validator("healthy_scan")
    @classmethod
    def _healthy_scan(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"every\s+\d+\s*[smhd]", value.strip()):
            raise ValueError("expected 'every <N><s|m|h|d>'")
        return value.strip() if value else value

    @property
    def enabled(self) -> bool:
        return bool(self.queue_url)

    @property
    def queue_region(self) -> str | None:
        """The region of the queue: configured, or read from its URL."""
        if self.region:
            return self.region
        m = re.match(r"^https://sqs\.([a-z0-9-]+)\.amazonaws\.com/", self.queue_url or "")
        return m.group(1) if m else None


class RateLimitConfig(_Section):
    """A token bucket per (account, region, AWS API service), shared by every worker."""

    per_second: float = Field(default=10.0, gt=0)
    burst: int = Field(default=20, ge=1)


class WorkersConfig(_Section):
    """Distributed collection (Celery over Redis); off while `broker` is unset."""

    broker: str | None = None  # redis://127.0.0.1:6379/0
    # a file holding the broker URL (it carries the Redis password): wins over `broker`
    broker_file: Path | None = None
    concurrency: int = Field(default=4, ge=1, le=256)  # units at once per worker process
    unit_timeout_seconds: int = Field(default=300, ge=1)
    queue: str = Field(default="auditor-units", pattern=r"^[A-Za-z0-9_.:-]{1,100}$")
    lease_seconds: int = Field(default=30, ge=2)  # a silent worker loses its unit after this
    max_units_per_process: int = Field(default=5000, ge=0)  # then exit 0 (0: never)
    max_deliveries: int = Field(default=3, ge=1)  # a unit whose workers keep dying: a gap
    rate_limit: RateLimitConfig = RateLimitConfig()

    @field_validator("broker")
    @classmethod
    def _broker(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^rediss?://", value):
            raise ValueError("expected a Redis URL: redis://HOST:6379/0 (or rediss://)")
        return value

    @model_validator(mode="after")
    def _broker_from_file(self) -> WorkersConfig:
        if self.broker_file is None:
            return self
        try:
            url = self.broker_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
            raise ValueError(f"cannot read {self.broker_file}: {reason}") from None
        if not re.match(r"^rediss?://", url):  # never echo the content: it holds a password
            raise ValueError(f"{self.broker_file} does not hold a redis:// or rediss:// URL")
        object.__setattr__(self, "broker", url)
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        case_sensitive=False,
        allow_inf_nan=False,
    )

    accounts: tuple[AccountConfig, ...] = ()
    organization: OrganizationConfig | None = None
    regions: tuple[str, ...] | Literal["all"] = ()  # () = the ambient AWS region
    services: tuple[Service, ...] = (Service.EC2, Service.ECS, Service.EKS, Service.ECR)
    store: str = "sqlite:///auditor.db"
    # a file holding the store URL (it carries the database password): wins over `store`
    store_url_file: Path | None = None
    schedule: ScheduleConfig = ScheduleConfig()
    rules: RulesConfig = RulesConfig()
    exemptions: tuple[ExemptionConfig, ...] = ()
    exemption_files: tuple[Path, ...] = ()
    exemption_policy: ExemptionPolicyConfig = ExemptionPolicyConfig()
    secrets: SecretsConfig = SecretsConfig()
    iac: IacConfig = IacConfig()
    reports: ReportsConfig = ReportsConfig()
    signing: SigningConfig = SigningConfig()
    slack: SlackConfig = SlackConfig()
    webhook: WebhookConfig = WebhookConfig()
    remediation: RemediationConfig = RemediationConfig()
    api: ApiConfig = ApiConfig()
    metrics: MetricsConfig = MetricsConfig()
    collect: CollectConfig = CollectConfig()
    events: EventsConfig = EventsConfig()
    workers: WorkersConfig = WorkersConfig()
    # where the config came from, for messages; not a config key
    source: str = Field(default="<defaults>", exclude=True)
    # "file:line" or "environment VAR" of each key that was set, for messages
    locations: Mapping[tuple[Any, ...], str] = Field(default_factory=dict, exclude=True, repr=False)

    @field_validator("regions", mode="before")
    @classmethod
    def _regions(cls, value: Any) -> Any:
        if isinstance(value, str) and value != "all":
            return tuple(r.strip() for r in value.split(",") if r.strip())
        return value

    @field_validator("store")
    @classmethod
    def _store(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql(\+psycopg)?)://", value):
            raise ValueError("expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
        return value

    def where(self, *path: Any) -> str:
        """Where a key (or its nearest parent) was set: `file:line` or `environment VAR`."""
        for end in range(len(path), 0, -1):
            found = self.locations.get(tuple(path[:end]))
            if found is not None:
                return found
        return self.source

    @model_validator(mode="after")
    def _store_from_file(self) -> Settings:
        if self.store_url_file is None:
            return self
        try:  # capped, regular files only: never /dev/zero; never echo the content
            raw = read_capped(Path(self.store_url_file), 64 * 1024, "store_url_file")
            url = raw.decode("utf-8").strip()
        except (ValueError, UnicodeDecodeError) as exc:
            reason = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc)
            raise ValueError(
                f"store_url_file: cannot read {self.store_url_file}: {reason.rsplit(': ', 1)[-1]}"
            ) from None
        if not re.match(r"^(sqlite|postgresql(\+psycopg)?)://", url):
            # never echo the content: it holds a password
            raise ValueError(
                f"store_url_file: {self.store_url_file} does not hold a sqlite:/// or "
                "postgresql+psycopg:// URL"
            )
        object.__setattr__(self, "store", url)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (_EnvSource(settings_cls), init_settings)


def format_validation_error(
    exc: ValidationError,
    filename: str,
    lines: Mapping[tuple[Any, ...], int],
    env: EnvOverrides | None = None,
) -> str:
    """One line per problem: where the value came from (environment variable, else the
    file's line of the key or its nearest parent), the dotted key, what is wrong."""
    env = env or EnvOverrides({}, {})
    problems: list[str] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        # pydantic adds the union member / literal tag to the path; keep the user's keys only
        known = _known_keys(lines, loc) | {p for path in env.sources for p in path}
        path = tuple(p for p in loc if isinstance(p, int) or p in known)
        variable = env.variable_for(path) if path else None
        line = None if variable else lines.get(path)
        for i in range(len(path) - 1, 0, -1):
            if line is None and variable is None and path[:i] in lines:
                line = lines[path[:i]]
        key = ".".join(str(p) for p in path) or "<top level>"
        if variable:
            where = f"environment {variable}"
        else:
            where = f"{filename}:{line}" if line else filename
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key" + _valid_choices(path)
        problems.append(one_line(f"{where}: {key}: {message}"))
    return "\n".join(problems)


def _known_keys(lines: Mapping[tuple[Any, ...], int], loc: tuple[Any, ...]) -> set[Any]:
    known: set[Any] = set()
    for path in lines:
        known.update(path)
    known.update(p for p in loc if p in Settings.model_fields or _is_field_name(p))
    return known


def _is_field_name(name: Any) -> bool:
    if not isinstance(name, str):
        return False
    return any(name in model.model_fields for model in _Section.__subclasses__())


def _valid_choices(path: tuple[Any, ...]) -> str:
    model: Any = Settings
    for part in path[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return ""
        model = _model_of(field.annotation)
        if model is None:
            return ""
    names = [n for n in model.model_fields if n not in INTERNAL_FIELDS]
    return f" (valid keys: {', '.join(names)})"


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def load_settings(path: Path | str | None = None) -> Settings:
    """Read the config file (default ./auditor.yaml if present) and the environment."""
    filename = "<environment>"
    data: Any = {}
    lines: Mapping[tuple[Any, ...], int] = {}
    chosen = (
        Path(path) if path is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    )
    if chosen is not None:
        filename = str(chosen)
        try:
            doc = read_yaml(chosen, "config file", MAX_CONFIG_BYTES)
        except YamlError as exc:
            raise ConfigError(str(exc)) from None
        data, lines = doc.data, doc.lines
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{filename}:1: the config file must be a mapping of sections")
        for internal in INTERNAL_FIELDS:
            if internal in data:
                raise ConfigError(f"{doc.where(internal)}: {internal}: unknown key")
    env = _environment()
    try:
        return Settings(**data, source=filename, locations=_locations(filename, lines, env))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, filename, lines, env)) from None


def _locations(
    filename: str, lines: Mapping[tuple[Any, ...], int], env: EnvOverrides
) -> dict[tuple[Any, ...], str]:
    out = {path: f"{filename}:{line}" for path, line in lines.items() if path}
    for path in list(out):  # a key the environment replaced is no longer the file's
        if env.variable_for(path):
            del out[path]
    out.update({path: f"environment {name}" for path, name in env.sources.items()})
    return out


def _environment() -> EnvOverrides:
    try:
        return env_overrides(Settings, os.environ, INTERNAL_FIELDS)
    except EnvError as exc:
        raise ConfigError(one_line(str(exc))) from None


class _EnvSource(PydanticBaseSettingsSource):
    """AUDITOR_* variables as config_env reads them (named in errors, UTF-8 checked)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return _environment().data


def require_shared_store(settings: Settings) -> None:
    """Workers write to the store the leader reads: a SQLite file cannot be that (exit 2)."""
    if settings.workers.broker and not settings.store.startswith("postgresql"):
        raise ConfigError(
            f"{settings.source}: workers.broker is set but store is SQLite: distributed "
            "workers need a shared PostgreSQL store (store: postgresql+psycopg://USER@HOST/DB)"
            " or remove workers.broker to collect in-process"
        )


def secret_from(env: str | None, file: Path | None) -> str | None:
    """Resolve a secret by reference. Returns None when neither reference is set or found."""
    if env:
        value = os.environ.get(env)
        if value:
            return value.strip()
    if file is not None:
        try:  # a regular file of at most 64 KiB: a secret file of /dev/zero never hangs us
            return read_capped(Path(file), 64 * 1024, "secret file").decode().strip() or None
        except (ValueError, UnicodeDecodeError):
            return None
    return None
