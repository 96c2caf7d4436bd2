"""The configuration: one schema, every default in one place, errors that name the key.

The YAML file mirrors these dataclasses. Validation walks the file against them, so an unknown
key, a wrong type or a bad value is reported as ``modem.baudrate: must be an integer, got
'fast'`` and the program exits 2 before anything starts.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modemd.modem.profiles import PROFILES
from modemd.modem.settings import ModemSettings
from modemd.phone import InvalidNumber, normalize
from modemd.sms.parts import compose

DEFAULT_CONFIG_PATH = Path("/etc/modemd/modemd.yaml")
ENV_CONFIG = "MODEMD_CONFIG"

# {reply} is "au <alerts.reply_number>" or, without one, "en réponse".
DEFAULT_TEMPLATE = "ALERTE COMMERCE - {category}\n{message}\n{advice}\nSTOP {reply}"
DEFAULT_ADVICE = "Soyez vigilants. Ne prenez aucun risque, composez le 17."

DEFAULT_REPLIES: dict[str, str] = {
    "stop": "Alerte Commerces: vous ne recevrez plus d'alertes. Pour revenir: ADHESION.",
    "adhesion_pending": "Alerte Commerces: demande recue, elle sera validee par la CCI.",
    "adhesion_accepted": "Alerte Commerces: inscription confirmee. STOP pour vous desinscrire.",
    "resubscribed": "Alerte Commerces: vous recevez de nouveau les alertes. STOP pour arreter.",
    "already_active": "Alerte Commerces: vous etes deja inscrit. STOP pour vous desinscrire.",
    "help": "Alerte Commerces: alertes de securite pour les commercants. STOP: desinscription. "
    "ADHESION: inscription.",
}


class ConfigError(ValueError):
    """A configuration problem, with the dotted key it concerns."""


@dataclass(frozen=True)
class LimitsConfig:
    per_minute: int = 0
    per_hour: int = 0
    per_day: int = 0
    distinct_recipients_per_day: int = 0
    distinct_recipients_per_month: int = 0


@dataclass(frozen=True)
class ModemConfig(ModemSettings):
    """A modem as the configuration names it: the device's own settings (``ModemSettings``,
    all the modem layer sees) plus its place in the pool."""

    name: str = "modem"  # how logs, status and the send log call this modem (pool: unique)
    role: str = "both"  # send | receive | both; inbound SMS are read from every modem anyway
    limits: LimitsConfig | None = None  # this SIM's plan; none: the top-level `limits`
    kind: str = "modem"  # modem | smpp (an SMPP link is a `channels:` entry)
    # primary: shares the queue; overflow: joins when the primary channels would take longer
    # than `routing.overflow_after` for an urgent alert; backup: sends only while no primary can.
    use: str = "primary"


SMPP_DEFAULT_PORT = "2775"


@dataclass(frozen=True)
class ChannelConfig(ModemConfig):
    """A `channels:` entry: a modem (the keys of `modems:`) or an SMPP link to an SMS centre
    (the keys below, which a modem leaves alone)."""

    host: str = ""
    tls: bool = False
    system_id: str = ""
    password: str | None = field(default=None, repr=False)  # never logged, never shown
    system_type: str = ""
    source_addr: str = ""  # a number, a short code, or an alphanumeric sender (ALERTECOM)
    throughput: float = 10.0  # submits per second the contract allows: never exceeded
    window: int = 10  # submits awaiting their answer at once
    enquire_link: str = "30s"  # a link silent this long is asked whether it is alive

    @property
    def tcp_port(self) -> int:
        return int(self.port) if self.port.isdigit() else int(SMPP_DEFAULT_PORT)


def is_alphanumeric_sender(source_addr: str) -> bool:
    """A sender name such as ALERTECOM (a phone cannot answer it), not a number or code."""
    return not re.fullmatch(r"\+?\d+", source_addr)


@dataclass(frozen=True)
class AlertsConfig:
    default_advice: str = DEFAULT_ADVICE
    default_priority: str = "urgent"
    expires_after: str = "6h"
    max_parts: int = 3
    encoding: str = "auto"
    transliterate: bool = True
    template: str = DEFAULT_TEMPLATE
    reply_number: str | None = None  # "STOP au <number>"; none: "STOP en réponse"


@dataclass(frozen=True)
class InboundConfig:
    auto_approve: bool = False
    operator_numbers: list[str] = field(default_factory=list)
    reply_limit_per_day: int = 3
    forward_limit_per_day: int = 10  # free-text SMS forwarded per sender and day
    reassembly_timeout: str = "1h"  # a long SMS still missing parts is handed over then
    replies: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_REPLIES))


@dataclass(frozen=True)
class SmsCommandsConfig:
    """Alerts by SMS from registered numbers (``modemd senders``)."""

    confirm_minutes: int = 10  # an "OUI <code>" must come within this
    reply_limit_per_day: int = 30  # answers to one registered number a day (a forged flood)


@dataclass(frozen=True)
class RetentionConfig:
    message_days: int = 90  # alert and reply texts blanked after that (the log of who got
    inbound_days: int = 90  # what stays); inbound texts and incoming/ files deleted


@dataclass(frozen=True)
class HealthConfig:
    check_interval: str = "30s"  # signal, registration and SIM checked this often
    notify_after: str = "3m"  # a problem lasting this long is told to the operators, once
    self_test: str | None = None  # "HH:MM": a daily test SMS to the first operator number


@dataclass(frozen=True)
class RoutingConfig:
    # An urgent alert the primary channels would take longer than this to send brings the
    # overflow channels in.
    overflow_after: str = "5m"


@dataclass(frozen=True)
class MetricsConfig:
    listen: str | None = None  # Prometheus endpoint, e.g. "127.0.0.1:9177"
    textfile: Path | None = None  # or a file for node_exporter's textfile collector


@dataclass(frozen=True)
class WebConfig:
    listen: str = "127.0.0.1:8080"  # the console (modemd web); behind a reverse proxy for others
    session_hours: float = 12  # a session ends this long after login, or at logout
    require_totp_for: list[str] = field(default_factory=list)  # roles that need a second factor
    tls_cert: Path | None = None  # both set: the console is served over HTTPS
    tls_key: Path | None = None
    api_rate_per_minute: int = 120  # calls an API token may make a minute (then 429)


# What a webhook can be told (SPEC "HTTP API").
WEBHOOK_EVENTS = (
    "alert.accepted",
    "alert.progress",
    "alert.completed",
    "delivery.updated",
    "inbound.received",
    "member.unsubscribed",
    "member.join_requested",
    "problem.opened",
    "problem.closed",
)


@dataclass(frozen=True)
class WebhookConfig:
    """A program told of events: POSTed JSON signed with ``secret`` (never sent itself)."""

    url: str = ""
    secret: str = field(default="", repr=False)  # never in a log or a repr
    events: list[str] = field(default_factory=list)  # empty: every event
    timeout: str = "10s"  # a receiver slower than this has failed this attempt
    retry_first: str = "10s"  # the first retry after a failure; each next one waits twice
    retry_max: str = "1h"  # as long (at most)
    give_up_after: str = "24h"  # an event still refused this long after it happened: failed


@dataclass(frozen=True)
class Config:
    modem: ModemConfig = field(default_factory=ModemConfig)
    modems: list[ModemConfig] = field(default_factory=list)  # a pool; replaces `modem`
    channels: list[ChannelConfig] = field(default_factory=list)  # modems and SMPP links
    spool_dir: Path = Path("/var/spool/modemd")
    state_dir: Path = Path("/var/lib/modemd")
    log_level: str = "INFO"
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    inbound: InboundConfig = field(default_factory=InboundConfig)
    sms_commands: SmsCommandsConfig = field(default_factory=SmsCommandsConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    web: WebConfig = field(default_factory=WebConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    webhooks: list[WebhookConfig] = field(default_factory=list)
    source: Path | None = None  # the file this was read from, if any

    def pool(self) -> list[ModemConfig]:
        """The channels to drive: `channels` when given, else `modems`, else the `modem`."""
        if self.channels:
            return list(self.channels)
        return list(self.modems) if self.modems else [self.modem]

    def limits_of(self, modem: ModemConfig) -> LimitsConfig:
        return modem.limits if modem.limits is not None else self.limits


_CHOICES: dict[str, tuple[str, ...]] = {
    "modem.storage": ("auto", "SM", "ME", "MT"),
    "modem.role": ("send", "receive", "both"),
    "modem.kind": ("modem", "smpp"),
    "modem.use": ("primary", "overflow", "backup"),
    "alerts.default_priority": ("urgent", "normal"),
    "alerts.encoding": ("auto", "gsm7", "ucs2"),
    "log_level": ("DEBUG", "INFO", "WARNING", "ERROR"),
}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``2h``, ``1d`` -> seconds."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 2h or 1d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def resolve_path(cli_path: str | None) -> Path:
    if cli_path:
        return Path(cli_path)
    env = os.environ.get(ENV_CONFIG)
    return Path(env) if env else DEFAULT_CONFIG_PATH


def load_config(path: Path | None, *, required: bool = True) -> Config:
    """Read and validate a config file; ``required=False`` gives defaults when it is absent."""
    if path is None or (not required and not path.exists()):
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found (use --config or MODEMD_CONFIG)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    config = parse_config(data, path)
    return dataclasses.replace(config, source=path)


def parse_config(data: object, where: Path | str = "config") -> Config:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the top level must be a mapping of keys")
    try:
        config: Config = _build(Config, data, "")
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return config


def _build(cls: type[Any], data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    values: dict[str, Any] = {}
    for key, raw in data.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"unknown key {dotted!r} (known here: {known})")
        values[key] = _convert(hints[key], raw, dotted)
    return _check(cls(**values), prefix)


def _convert(hint: Any, raw: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if raw is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], raw, key)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if raw is None:
            return hint()
        if not isinstance(raw, dict):
            raise ConfigError(f"{key}: must be a mapping of keys, got {raw!r}")
        return _build(typing.cast(type[Any], hint), raw, key + ".")
    if hint is bool:
        if not isinstance(raw, bool):
            raise ConfigError(f"{key}: must be true or false, got {raw!r}")
        return raw
    if hint is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ConfigError(f"{key}: must be a whole number, got {raw!r}")
        if raw < 0:
            raise ConfigError(f"{key}: must not be negative, got {raw}")
        return raw
    if hint is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
            raise ConfigError(f"{key}: must be a positive number, got {raw!r}")
        return float(raw)
    if hint is str:
        if isinstance(raw, bool) or raw is None or isinstance(raw, list | dict):
            raise ConfigError(f"{key}: must be a text, got {raw!r}")
        return str(raw)  # a PIN written 1234 is still the text "1234"
    if hint is Path:
        if not isinstance(raw, str) or not raw:
            raise ConfigError(f"{key}: must be a path, got {raw!r}")
        return Path(raw)
    if origin is list:
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise ConfigError(f"{key}: must be a list, got {raw!r}")
        return [_convert(args[0], item, f"{key}[{i}]") for i, item in enumerate(raw)]
    if origin is dict:
        if not isinstance(raw, dict):
            raise ConfigError(f"{key}: must be a mapping, got {raw!r}")
        return {str(k): _convert(args[1], v, f"{key}.{k}") for k, v in raw.items()}
    raise ConfigError(f"{key}: unsupported setting type {hint!r}")  # a bug in the schema


def _check(obj: Any, prefix: str) -> Any:
    """Value rules beyond types, each naming its key."""
    for f in dataclasses.fields(obj):
        key = f"{prefix}{f.name}"
        value = getattr(obj, f.name)
        choices = _CHOICES.get(re.sub(r"^(modems|channels)\[\d+\]", "modem", key))
        if choices is not None and value not in choices:
            raise ConfigError(f"{key}: must be one of {', '.join(choices)}, got {value!r}")
    if isinstance(obj, ModemConfig):
        if obj.profile != "auto" and obj.profile not in PROFILES:
            known = ", ".join(["auto", *sorted(PROFILES)])
            raise ConfigError(f"{prefix}profile: unknown profile {obj.profile!r} (known: {known})")
        if obj.pin is not None and not re.fullmatch(r"\d{4,8}", obj.pin):
            raise ConfigError(f"{prefix}pin: a SIM PIN is 4 to 8 digits")
        if not obj.port:
            raise ConfigError(f"{prefix}port: must name the modem's serial port")
        if obj.smsc is not None:
            _check_number(obj.smsc, f"{prefix}smsc")
            obj = dataclasses.replace(obj, smsc=normalize(obj.smsc))  # the modem takes E.164
    if isinstance(obj, SmsCommandsConfig) and not 1 <= obj.confirm_minutes <= 60:
        raise ConfigError(f"{prefix}confirm_minutes: must be between 1 and 60 minutes")
    if isinstance(obj, AlertsConfig):
        try:
            parse_duration(obj.expires_after)
        except ValueError as exc:
            raise ConfigError(f"{prefix}expires_after: {exc}") from None
        if not 1 <= obj.max_parts <= 10:
            raise ConfigError(f"{prefix}max_parts: must be between 1 and 10")
        for name in re.findall(r"{(\w*)}", obj.template):
            if name not in {"category", "message", "advice", "reply"}:
                raise ConfigError(
                    f"{prefix}template: unknown placeholder {{{name}}} "
                    "(use {category}, {message}, {advice}, {reply})"
                )
    if isinstance(obj, ChannelConfig):
        obj = _check_channel(obj, prefix)
    elif isinstance(obj, ModemConfig) and obj.kind != "modem":
        raise ConfigError(f"{prefix}kind: an SMPP link is described under `channels:`")
    if isinstance(obj, Config) and (obj.modems or obj.channels):
        what = "channels" if obj.channels else "modems"
        names = [m.name for m in obj.pool()]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise ConfigError(f"{what}: two are named {duplicate!r}; names must differ")
        if not any(m.role in ("send", "both") for m in obj.pool()):
            raise ConfigError(f"{what}: at least one must have role send or both")
        if not any(m.use == "primary" and m.role != "receive" for m in obj.pool()):
            raise ConfigError(f"{what}: at least one sending channel must have use: primary")
    if isinstance(obj, Config):
        for i, ch in enumerate(obj.channels):
            if (
                ch.kind == "smpp"
                and is_alphanumeric_sender(ch.source_addr)
                and not obj.alerts.reply_number
            ):
                raise ConfigError(
                    f"channels[{i}].source_addr: {ch.source_addr!r} is a sender name a phone "
                    "cannot answer; set alerts.reply_number (a modem's number or the "
                    "aggregator's short code) so that alerts say where to text STOP"
                )
    if isinstance(obj, ModemConfig) and not re.fullmatch(r"[\w.-]{1,32}", obj.name):
        raise ConfigError(f"{prefix}name: letters, digits, '.', '_' or '-', got {obj.name!r}")
    if isinstance(obj, RoutingConfig):
        try:
            parse_duration(obj.overflow_after)
        except ValueError as exc:
            raise ConfigError(f"{prefix}overflow_after: {exc}") from None
    if isinstance(obj, HealthConfig):
        for name in ("check_interval", "notify_after"):
            try:
                parse_duration(getattr(obj, name))
            except ValueError as exc:
                raise ConfigError(f"{prefix}{name}: {exc}") from None
        if obj.self_test is not None and not re.fullmatch(
            r"([01]\d|2[0-3]):[0-5]\d", obj.self_test
        ):
            raise ConfigError(f"{prefix}self_test: a time of day like 09:00, got {obj.self_test!r}")
    if (
        isinstance(obj, MetricsConfig)
        and obj.listen is not None
        and not re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[\w.-]*):\d{1,5}", obj.listen)
    ):
        raise ConfigError(f"{prefix}listen: host:port like 127.0.0.1:9177, got {obj.listen!r}")
    if isinstance(obj, WebConfig):
        _check_web(obj, prefix)
    if isinstance(obj, WebhookConfig):
        _check_webhook(obj, prefix)
    if isinstance(obj, Config):
        urls = [w.url for w in obj.webhooks]
        twice = next((u for u in urls if urls.count(u) > 1), None)
        if twice is not None:
            raise ConfigError(f"webhooks: {twice} is given twice; one entry per URL")
    if isinstance(obj, InboundConfig):
        try:
            parse_duration(obj.reassembly_timeout)
        except ValueError as exc:
            raise ConfigError(f"{prefix}reassembly_timeout: {exc}") from None
        for name, text in obj.replies.items():
            parts = compose(text).part_count
            if parts > 1:
                raise ConfigError(
                    f"{prefix}replies.{name}: must fit one SMS, this text needs {parts} parts"
                )
        for i, number in enumerate(obj.operator_numbers):
            _check_number(number, f"{prefix}operator_numbers[{i}]")
        unknown = set(obj.replies) - set(DEFAULT_REPLIES)
        if unknown:
            raise ConfigError(
                f"{prefix}replies: unknown reply {sorted(unknown)[0]!r} "
                f"(known: {', '.join(DEFAULT_REPLIES)})"
            )
        obj = dataclasses.replace(obj, replies={**DEFAULT_REPLIES, **obj.replies})
    return obj


WEB_ROLES = ("operateur", "cci", "admin")


def _check_web(web: WebConfig, prefix: str) -> None:
    if not re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[\w.-]*):\d{1,5}", web.listen):
        raise ConfigError(f"{prefix}listen: host:port like 127.0.0.1:8080, got {web.listen!r}")
    for i, role in enumerate(web.require_totp_for):
        if role not in WEB_ROLES:
            raise ConfigError(
                f"{prefix}require_totp_for[{i}]: unknown role {role!r} "
                f"(roles: {', '.join(WEB_ROLES)})"
            )
    if web.api_rate_per_minute < 1:
        raise ConfigError(f"{prefix}api_rate_per_minute: at least 1 call a minute")
    if (web.tls_cert is None) != (web.tls_key is None):
        raise ConfigError(f"{prefix}tls_cert, {prefix}tls_key: give both for HTTPS, or neither")


_SMPP_ONLY = ("host", "tls", "system_id", "password", "system_type", "source_addr")


def _check_channel(obj: ChannelConfig, prefix: str) -> ChannelConfig:
    defaults = ChannelConfig()
    if obj.kind == "modem":
        for key in _SMPP_ONLY:
            if getattr(obj, key) != getattr(defaults, key):
                raise ConfigError(f"{prefix}{key}: only for kind: smpp")
        return obj
    if not obj.host:
        raise ConfigError(f"{prefix}host: the SMS centre's host name or address is required")
    if obj.port == defaults.port:
        obj = dataclasses.replace(obj, port=SMPP_DEFAULT_PORT)
    if not obj.port.isdigit() or not 0 < int(obj.port) < 65536:
        raise ConfigError(f"{prefix}port: a TCP port number (often 2775), got {obj.port!r}")
    if not obj.system_id:
        raise ConfigError(f"{prefix}system_id: the account name the aggregator gave you")
    if not obj.source_addr:
        raise ConfigError(f"{prefix}source_addr: the sender (a number, short code or name)")
    if is_alphanumeric_sender(obj.source_addr) and not re.fullmatch(
        r"[A-Za-z0-9 ]{1,11}", obj.source_addr
    ):
        raise ConfigError(f"{prefix}source_addr: a sender name is 1 to 11 letters or digits")
    if not 1 <= obj.window <= 100:
        raise ConfigError(f"{prefix}window: between 1 and 100 submits awaiting an answer")
    try:
        parse_duration(obj.enquire_link)
    except ValueError as exc:
        raise ConfigError(f"{prefix}enquire_link: {exc}") from None
    return obj


def check_webhook(hook: WebhookConfig, prefix: str = "webhook.") -> None:
    """A webhook's settings, whether from the file or the console (ConfigError)."""
    _check_webhook(hook, prefix)


def _check_webhook(hook: WebhookConfig, prefix: str) -> None:
    where = prefix.rstrip(".")
    if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", hook.url):
        raise ConfigError(f"{where}.url: an http:// or https:// URL, got {hook.url!r}")
    if len(hook.secret) < 16:
        # Never shown: the message names the key, not the value.
        raise ConfigError(f"{where}.secret: at least 16 characters (a long random text)")
    for i, event in enumerate(hook.events):
        if event not in WEBHOOK_EVENTS:
            raise ConfigError(
                f"{where}.events[{i}]: unknown event {event!r} (events: "
                f"{', '.join(WEBHOOK_EVENTS)})"
            )
    for name in ("timeout", "retry_first", "retry_max", "give_up_after"):
        try:
            parse_duration(getattr(hook, name))
        except ValueError as exc:
            raise ConfigError(f"{where}.{name}: {exc}") from None


def _check_number(number: str, key: str) -> None:
    try:
        normalize(number)
    except InvalidNumber as exc:
        raise ConfigError(f"{key}: {exc}") from None
