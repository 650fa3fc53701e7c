"""Config file + environment -> one frozen Settings object.

Every value can come from `auditor.yaml` or from `AUDITOR_<SECTION>__<KEY>` environment
variables (environment wins). Unknown keys and bad values are errors that name the file,
line and key. Secrets are only ever referenced (an environment variable or file name),
never written in the config.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from auditor.errors import BadInputError
from auditor.model import Service, Severity

DEFAULT_CONFIG = Path("auditor.yaml")
ENV_PREFIX = "AUDITOR_"


class ConfigError(BadInputError):
    """Bad configuration: the message names file, line and key. Exit code 2."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


AccountId = Annotated[str, Field(pattern=r"^\d{12}$")]


class AccountConfig(_Section):
    id: AccountId
    role_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
    name: str | None = None


class OrganizationConfig(_Section):
    role_name: str = "auditor"
    include: tuple[AccountId, ...] = ()
    exclude: tuple[AccountId, ...] = ()


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
            return value
        raise ValueError("expected 'every <N><s|m|h|d>' or a 5-field cron expression")


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
    reason: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    expires: date


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
    formats: tuple[Literal["json", "html", "csv", "ocsf"], ...] = ("json", "html", "csv", "ocsf")
    s3: S3ReportConfig = S3ReportConfig()
    retention_days: int = Field(default=2555, ge=1)  # seven years
    base_url: str | None = None  # where users open reports (links in Slack)


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


class ListenConfig(_Section):
    listen: str = "127.0.0.1:8080"

    @field_validator("listen")
    @classmethod
    def _hostport(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:8080")
        return value


class MetricsConfig(ListenConfig):
    listen: str = "127.0.0.1:9464"


class CollectConfig(_Section):
    concurrency: int = Field(default=8, ge=1, le=64)
    max_attempts: int = Field(default=8, ge=1, le=20)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        case_sensitive=False,
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
    iac: IacConfig = IacConfig()
    reports: ReportsConfig = ReportsConfig()
    signing: SigningConfig = SigningConfig()
    slack: SlackConfig = SlackConfig()
    remediation: RemediationConfig = RemediationConfig()
    api: ListenConfig = ListenConfig()
    metrics: MetricsConfig = MetricsConfig()
    collect: CollectConfig = CollectConfig()
    # where the config came from, for messages; not a config key
    source: str = Field(default="<defaults>", exclude=True)

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

    @model_validator(mode="after")
    def _store_from_file(self) -> Settings:
        if self.store_url_file is None:
            return self
        try:
            url = self.store_url_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
            raise ValueError(
                f"store_url_file: cannot read {self.store_url_file}: {reason}"
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
        return (env_settings, init_settings)


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping key, by path."""


def _load_yaml_with_lines(text: str, filename: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    lines: dict[tuple[Any, ...], int] = {}
    try:
        node = yaml.compose(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}" if mark else filename
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None

    def walk(n: yaml.Node | None, path: tuple[Any, ...]) -> None:
        if n is None:
            return
        lines.setdefault(path, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                lines[(*path, key.value)] = key.start_mark.line + 1
                walk(value, (*path, key.value))
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                lines[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))

    walk(node, ())
    data = yaml.safe_load(text) if node is not None else None
    return data, lines


def _env_var_for(loc: tuple[Any, ...]) -> str | None:
    """The AUDITOR_* variable a bad value came from, when it did not come from the file."""
    keys = [str(p) for p in loc if not isinstance(p, int)]
    env = {k.upper(): k for k in os.environ}
    for i in range(len(keys), 0, -1):
        name = ENV_PREFIX + "__".join(keys[:i]).upper()
        if name in env:
            return env[name]
    return None


def format_validation_error(
    exc: ValidationError, filename: str, lines: dict[tuple[Any, ...], int]
) -> str:
    problems: list[str] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        # pydantic adds the union member / literal tag to the path; keep the user's keys only
        path = tuple(p for p in loc if isinstance(p, int) or p in _known_keys(lines, loc))
        # the exact key in the file; else the environment variable; else the nearest parent
        line = lines.get(path)
        env = _env_var_for(path) if line is None and path else None
        for i in range(len(path) - 1, 0, -1):
            if line is None and env is None and path[:i] in lines:
                line = lines[path[:i]]
        key = ".".join(str(p) for p in path) or "<top level>"
        where = f"{filename}:{line}" if line else (f"environment {env}" if env else filename)
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key" + _valid_choices(path)
        problems.append(f"{where}: {key}: {message}")
    return "\n".join(problems)


def _known_keys(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> set[Any]:
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
    names = [n for n in model.model_fields if n != "source"]
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
    lines: dict[tuple[Any, ...], int] = {}
    chosen = (
        Path(path) if path is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    )
    if chosen is not None:
        filename = str(chosen)
        try:
            text = chosen.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{filename}: cannot read config file: {exc.strerror}") from None
        data, lines = _load_yaml_with_lines(text, filename)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{filename}:1: the config file must be a mapping of sections")
    try:
        return Settings(**data, source=filename)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, filename, lines)) from None


def secret_from(env: str | None, file: Path | None) -> str | None:
    """Resolve a secret by reference. Returns None when neither reference is set or found."""
    if env:
        value = os.environ.get(env)
        if value:
            return value.strip()
    if file is not None:
        try:
            return file.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None
    return None
