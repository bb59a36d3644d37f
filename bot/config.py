"""Settings from the environment / ``.env`` and the policy file they point at.

Every setting is listed, with a comment, in ``.env.example``; ``tests/test_config.py`` keeps the
two in step.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.domain.calendar import BusinessCalendar
from bot.domain.cases import DomainError
from bot.domain.duty import is_role
from bot.domain.numbers import PREFIX_RE
from bot.domain.policy import Policy, parse_policy

log = logging.getLogger(__name__)

DEFAULT_POLICY = "default.toml"
TOKEN_RE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{30,}$")
WEBHOOK_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
SLACK_ID_RE = re.compile(r"^[A-Z][A-Z0-9]{2,}$")
SLACK_CHANNEL_RE = re.compile(r"^[CG][A-Z0-9]{2,}$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KESU_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # `KESU_POLICY_FILE=` as in .env.example means "not set"
        extra="ignore",
    )

    database_url: str = Field(
        "sqlite:///kesu.db",
        description="sqlite:///path (embedded) or postgresql+asyncpg://user:pass@host/db",
    )
    case_prefix: str = Field("TS", description="letters before the date in case numbers")
    timezone: str = Field("Asia/Shanghai", description="the desk's time zone (IANA name)")
    policy_file: Path | None = Field(None, description="SLA policy TOML; built-in default if unset")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    taxonomy: str = Field(
        "default", description="a taxonomy preset (default, real_estate, …) or a TOML file"
    )
    default_language: Literal["zh-hans", "zh-hant", "en"] = Field(
        "zh-hans", description="for customers whose app language is neither Chinese nor English"
    )
    telegram_token: SecretStr | None = Field(None, description="from @BotFather: 123456:ABC…")
    telegram_base_url: str = Field(
        "https://api.telegram.org", description="Bot API server (a local one, or a test emulator)"
    )
    telegram_webhook_url: str | None = Field(
        None, description="public https URL: set it to receive updates by webhook, not polling"
    )
    telegram_webhook_secret: SecretStr | None = Field(
        None, description="checked on every webhook call (X-Telegram-Bot-Api-Secret-Token)"
    )
    telegram_webhook_listen: str = "0.0.0.0"  # noqa: S104 (a webhook server listens publicly)
    telegram_webhook_port: int = Field(8443, ge=1, le=65535)
    cache_dir: Path | None = Field(
        None, description="jieba dictionary cache; ~/.cache/kesu if unset"
    )
    slack_bot_token: SecretStr | None = Field(None, description="Bot User OAuth Token, xoxb-…")
    slack_app_token: SecretStr | None = Field(
        None, description="app-level token with connections:write (Socket Mode), xapp-…"
    )
    slack_signing_secret: SecretStr | None = Field(
        None, description="Basic Information → Signing Secret; needed in HTTP mode"
    )
    slack_mode: Literal["socket", "http"] = Field(
        "socket", description="socket: no public URL needed; http: Slack calls our URL"
    )
    slack_staff_channel: str | None = Field(
        None, description="channel id (C…) where case cards go; its members are the staff"
    )
    slack_report_channel: str | None = Field(
        None,
        description="channel id (C…) where supervisors read flag reports and burst alerts; "
        "unset = the staff channel",
    )
    slack_staff_users: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="more staff user ids (U…), comma-separated"
    )
    slack_supervisors: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="supervisor user ids (U…), comma-separated"
    )
    slack_supervisor_group: str | None = Field(
        None, description="a user group id (S…) whose members are supervisors"
    )
    slack_roles: Annotated[dict[str, tuple[str, ...]], NoDecode] = Field(
        default_factory=dict,
        description="people of each role the policy names: role=U…,S…;role=…",
    )
    slack_reply_prefix: str | None = Field(
        None, description="thread messages starting with this go to the customer; unset = never"
    )
    slack_api_url: str = Field(
        "https://slack.com/api/", description="Web API base (Enterprise Grid, or a test emulator)"
    )
    slack_http_listen: str = "0.0.0.0"  # noqa: S104 (HTTP mode listens publicly)
    slack_http_port: int = Field(3000, ge=1, le=65535)
    inbox_attempts: int = Field(
        5, ge=1, le=20, description="tries of an inbound update before it is parked"
    )
    outbox_attempts: int = Field(
        5,
        ge=1,
        le=50,
        description="failed sends that were the message's own (not flood control, an outage "
        "or a configuration error) before it becomes a dead letter",
    )
    outbox_max_age_hours: float = Field(
        24.0, gt=0, le=24 * 30, description="hours a message may wait before it is a dead letter"
    )
    outbox_config_max_age_hours: float = Field(
        72.0,
        gt=0,
        le=24 * 30,
        description="hours a message waits for an operator to fix a configuration error "
        "(Slack: the bot not in the channel, a revoked token) before it is a dead letter",
    )
    inbox_retention_days: float = Field(
        6.0,
        gt=0,
        lt=7,
        description="days processed updates are remembered to recognise redeliveries; under "
        "Telegram's week, after which it may reuse an update id",
    )

    @field_validator("case_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not PREFIX_RE.match(value):
            raise ValueError("KESU_CASE_PREFIX must be 1-8 capital letters A-Z, e.g. TS or YS")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        """``debug`` is as clear as ``DEBUG``: refusing it only cost an operator a restart."""
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name") from exc
        return value

    @field_validator("telegram_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not TOKEN_RE.match(value.get_secret_value()):
            raise ValueError(
                "does not look like a bot token (digits, a colon, 30+ letters: 123456789:AA…); "
                "get one from @BotFather"
            )
        return value

    @field_validator("slack_staff_users", "slack_supervisors", mode="before")
    @classmethod
    def _user_list(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, list):
            for user in value:
                if not SLACK_ID_RE.match(str(user)) or str(user)[0] not in "UW":
                    raise ValueError(f"{user!r} is not a Slack user id (U… or W…)")
        return value

    @field_validator("slack_roles", mode="before")
    @classmethod
    def _roles(cls, value: object) -> object:
        """``supervisor=U1,U2,S0GROUP;manager=U3``: strict, since a typo here silently
        leaves a level of the escalation chain with nobody to ping."""
        return parse_roles(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _slack(self) -> Settings:
        if self.slack_bot_token is None:
            return self
        if not self.slack_bot_token.get_secret_value().startswith("xoxb-"):
            raise ValueError("KESU_SLACK_BOT_TOKEN must be a bot token (xoxb-…)")
        if not self.slack_staff_channel or not SLACK_CHANNEL_RE.match(self.slack_staff_channel):
            raise ValueError(
                "KESU_SLACK_STAFF_CHANNEL must be the channel id (C… or G…, from the channel's "
                "About tab), not its name"
            )
        if self.slack_mode == "socket":
            app = self.slack_app_token.get_secret_value() if self.slack_app_token else ""
            if not app.startswith("xapp-"):
                raise ValueError(
                    "Socket Mode needs KESU_SLACK_APP_TOKEN (xapp-…, scope connections:write); "
                    "or set KESU_SLACK_MODE=http with KESU_SLACK_SIGNING_SECRET"
                )
        elif self.slack_signing_secret is None:
            raise ValueError("HTTP mode needs KESU_SLACK_SIGNING_SECRET to verify Slack's calls")
        if self.slack_report_channel and not SLACK_CHANNEL_RE.match(self.slack_report_channel):
            raise ValueError(
                "KESU_SLACK_REPORT_CHANNEL must be a channel id (C… or G…), like the staff channel"
            )
        if self.slack_supervisor_group and not SLACK_ID_RE.match(self.slack_supervisor_group):
            raise ValueError("KESU_SLACK_SUPERVISOR_GROUP must be a user group id (S…)")
        return self

    @model_validator(mode="after")
    def _webhook(self) -> Settings:
        if self.telegram_webhook_url:
            if not self.telegram_webhook_url.startswith("https://"):
                raise ValueError("KESU_TELEGRAM_WEBHOOK_URL must be an https:// URL")
            if self.telegram_webhook_secret is None:
                raise ValueError("webhook mode needs KESU_TELEGRAM_WEBHOOK_SECRET")
            secret = self.telegram_webhook_secret.get_secret_value()
            if not WEBHOOK_SECRET_RE.match(secret):
                raise ValueError(
                    "KESU_TELEGRAM_WEBHOOK_SECRET: 1-256 characters of A-Z a-z 0-9 _ -"
                )
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def parse_roles(text: str) -> dict[str, tuple[str, ...]]:
    """Role → Slack user ids (U…/W…) and user group ids (S…), from ``role=id,id;role=id``."""
    roles: dict[str, tuple[str, ...]] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        role, equals, ids = part.partition("=")
        role = role.strip()
        if not equals:
            raise ValueError(f"{part!r} is not role=ids, e.g. supervisor=U0123ABCD,S0456EFGH")
        if not is_role(role):
            raise ValueError(f"{role!r} is not a role name: a lowercase word such as supervisor")
        if role in roles:
            raise ValueError(f"role {role!r} is given twice")
        people = tuple(i.strip() for i in ids.split(",") if i.strip())
        if not people:
            raise ValueError(f"role {role!r} lists nobody")
        for person in people:
            if not SLACK_ID_RE.match(person) or person[0] not in "UWS":
                raise ValueError(
                    f"{person!r} (role {role}) is not a Slack user id (U…, W…) or user group "
                    "id (S…)"
                )
        if len(set(people)) != len(people):
            raise ValueError(f"role {role!r} lists someone twice")
        roles[role] = people
    return roles


class SettingsError(DomainError):
    """A KESU_* value is wrong; the message names the variable."""


def settings_from_env() -> Settings:
    """Settings from the environment and .env, or a SettingsError naming every bad variable.

    A field's error is prefixed with its variable; a check across fields (a model validator,
    whose error has no field) names its variables in its own words. pydantic's "Value error, "
    is not for operators. No value is ever quoted back: some are secrets."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(_problem(e["loc"], e["msg"]) for e in exc.errors())
        raise SettingsError(f"bad setting: {problems}") from exc


def _problem(loc: tuple[int | str, ...], msg: str) -> str:
    msg = msg.removeprefix("Value error, ")
    return f"KESU_{str(loc[0]).upper()}: {msg}" if loc else msg


def mask_secret(value: str) -> str:
    """A secret as messages and logs may show it: a Telegram token keeps its bot id (public:
    it is the bot's user id), a Slack token its kind; the rest is ``***``."""
    bot_id, colon, _ = value.partition(":")
    if colon and bot_id.isdigit():
        return f"{bot_id}:***"
    kind = value.split("-", 1)[0]
    return f"{kind}-***" if kind in ("xoxb", "xoxp", "xapp") else "***"


def secrets(settings: Settings) -> list[str]:
    """Every secret the settings hold, longest first (one may contain another)."""
    found = [
        s.get_secret_value()
        for s in (
            settings.telegram_token,
            settings.telegram_webhook_secret,
            settings.slack_bot_token,
            settings.slack_app_token,
            settings.slack_signing_secret,
        )
        if s is not None
    ]
    try:
        password = urlsplit(settings.database_url).password
    except ValueError:
        password = None
    if password:  # as written in the URL, and as the driver is given it
        found += [password, unquote(password)]
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


class Redact(logging.Filter):
    """On a handler: every record's text, traceback included, with the settings' secrets
    masked — whatever library logged it (an HTTP client's URL carries the Bot API token)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__("kesu-redact")
        self.secrets = secrets

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, mask_secret(secret))
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


def redact_logs(settings: Settings) -> Redact:
    """Mask the settings' secrets in everything the root logger's handlers write (the
    filter replaces one an earlier call installed); returns the filter, whose ``mask``
    serves messages that do not go through logging."""
    redact = Redact(secrets(settings))
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, Redact)]:
            handler.removeFilter(old)
        handler.addFilter(redact)
    return redact


def load_policy(path: Path | None) -> Policy:
    """Read a policy file, or the built-in defaults when ``path`` is None."""
    if path is None:
        text = (files("bot") / "policies" / DEFAULT_POLICY).read_text(encoding="utf-8")
        return parse_policy(text, f"built-in {DEFAULT_POLICY}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DomainError(f"cannot read policy file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise DomainError(f"policy file {path} is not UTF-8: {exc}") from exc
    return parse_policy(text, str(path))


#: From this month on, next year's missing schedule is worth a warning: the State Council
#: announces it late in the year, and a case opened in December is due in January. Earlier,
#: a warning nobody can act on only teaches operators to ignore warnings.
NEXT_YEAR_FROM_MONTH = 11


def calendar_warnings(calendar: BusinessCalendar, now: datetime) -> list[str]:
    """Operator warnings when holiday data is missing: for this year always, for next year
    from November (the desk's own date)."""
    today = now.astimezone(calendar.tz)
    years = [today.year]
    if today.month >= NEXT_YEAR_FROM_MONTH:
        years.append(today.year + 1)
    return [
        f"holiday schedule for {y} is not announced: the law's public holidays (元旦, 春节 "
        "with 除夕, 清明, 劳动节, 端午, 中秋, 国庆) and weekends count as days off, but the "
        f"weekend days worked (调休) and the bridge days are unknown. Add [calendar.years.{y}] "
        "with off/workdays to the policy file once announced."
        for y in calendar.unknown_years(years)
    ]
