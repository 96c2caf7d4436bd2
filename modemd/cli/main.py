"""The ``modemd`` command line: argument parsing, exit codes, one clear sentence per error.

Exit 0 on success, 2 on bad input or configuration, 1 on other failures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from modemd import __version__
from modemd.cli.common import Failure, UsageError
from modemd.config import Config, ConfigError, load_config, resolve_path

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _common() -> argparse.ArgumentParser:
    # Shared by the top-level parser and every subcommand, so `--config` works before or
    # after the command name. SUPPRESS keeps a subcommand from erasing a value given earlier.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="configuration file (default: $MODEMD_CONFIG or /etc/modemd/modemd.yaml)",
    )
    common.add_argument(
        "--log-level",
        default=argparse.SUPPRESS,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log verbosity on stderr (default: log_level of the config for run, WARNING for "
        "the other commands)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="modemd",
        parents=[common],
        description="Self-hosted SMS alert engine for « Alerte Commerces » networks.",
    )
    parser.add_argument("--version", action="version", version=f"modemd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub.add_parser("run", parents=[common], help="the daemon, in the foreground")

    status = sub.add_parser(
        "status", parents=[common], help="modem, alerts in progress, SIM windows, recent errors"
    )
    _json(status)
    status.add_argument("--watch", action="store_true", help="refresh every second (Ctrl-C ends)")

    alert = sub.add_parser("alert", parents=[common], help="send, list, show or cancel alerts")
    alert_sub = alert.add_subparsers(dest="alert_command", metavar="ACTION", required=True)
    send = alert_sub.add_parser(
        "send",
        parents=[common],
        help="queue an alert file (straight to a running daemon, else into the spool)",
    )
    send.add_argument(
        "file", type=Path, metavar="FILE", help="the alert file: .yaml, .yml or .txt"
    )
    send.add_argument(
        "--check",
        action="store_true",
        help="show the SMS, parts, recipients and time; send nothing",
    )
    _json(send)
    listing = alert_sub.add_parser("list", parents=[common], help="recent alerts")
    _json(listing)
    listing.add_argument(
        "--limit", type=int, default=20, metavar="N", help="how many, newest first (default 20)"
    )
    show = alert_sub.add_parser("show", parents=[common], help="one alert, per recipient")
    show.add_argument("id", metavar="ID", help=ALERT_ID_HELP)
    _json(show)
    cancel = alert_sub.add_parser(
        "cancel",
        parents=[common],
        help="stop what is unsent (a message already begun is finished)",
        description="Cancel what is unsent of an alert, given by its ID or by the file's "
        "`id`. A message of several parts already begun is finished, never left half sent.",
    )
    cancel.add_argument("id", metavar="ID", help=ALERT_ID_HELP)

    audit = sub.add_parser(
        "audit",
        parents=[common],
        help="who did what: every change of state with its actor, oldest first",
    )
    audit.add_argument(
        "--since",
        metavar="WHEN",
        help="only from then: a duration back from now (2h, 7d) or a date (2026-11-29)",
    )
    audit.add_argument(
        "--actor",
        metavar="PREFIX",
        help="only actors starting so (cli:, cli:marie, sms:+33612, system)",
    )
    _json(audit)

    _senders(sub, common)
    _tokens(sub, common)
    members = sub.add_parser("subscribers", parents=[common], help="the members list")
    members_sub = members.add_subparsers(dest="members_command", metavar="ACTION", required=True)
    imp = members_sub.add_parser(
        "import",
        parents=[common],
        help="import a CSV as Excel saves it (comma, semicolon or tab; UTF-8, UTF-16, "
        "Windows-1252 or Mac Roman)",
    )
    imp.add_argument("file", metavar="FILE.csv", help="the CSV file")
    _json(imp)
    listing_m = members_sub.add_parser("list", parents=[common], help="list members")
    listing_m.add_argument(
        "--status",
        choices=["active", "pending", "unsubscribed"],
        metavar="S",
        help="only these: active, pending or unsubscribed",
    )
    _json(listing_m)
    add = members_sub.add_parser("add", parents=[common], help="add or update one member")
    add.add_argument("phone", metavar="PHONE", help=PHONE_HELP)
    _details(add)
    members_sub.add_parser("remove", parents=[common], help="forget a member").add_argument(
        "phone", metavar="PHONE", help=PHONE_HELP
    )
    members_sub.add_parser(
        "unsubscribe",
        parents=[common],
        help="record an opt-out the CCI was told of, as a STOP (the shop is told by SMS)",
    ).add_argument("phone", metavar="PHONE", help=PHONE_HELP)
    approve = members_sub.add_parser(
        "approve",
        parents=[common],
        help="accept a pending request and tell the shop by SMS; name, commune and sector "
        "are read from the request unless given",
    )
    approve.add_argument("phone", metavar="PHONE", help=PHONE_HELP)
    _details(approve)
    export = members_sub.add_parser("export", parents=[common], help="write all members to CSV")
    export.add_argument("file", metavar="FILE.csv", help="the CSV file to write")
    export.add_argument(
        "--lang", choices=["fr", "en"], default="fr", help="language of the headers (default fr)"
    )

    users = sub.add_parser("users", parents=[common], help="the web console's accounts")
    users_sub = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    users_add = users_sub.add_parser(
        "add",
        parents=[common],
        help="create an account (the password asked on the terminal, or --password-stdin)",
    )
    users_add.add_argument("login", metavar="LOGIN", help=LOGIN_HELP)
    users_add.add_argument(
        "--role",
        default="operateur",
        choices=["operateur", "cci", "admin"],
        help="operateur (the default): alerts; cci: members; admin: everything",
    )
    _password_stdin(users_add)
    _json(users_sub.add_parser("list", parents=[common], help="every account"))
    passwd = users_sub.add_parser(
        "passwd", parents=[common], help="set a new password (its sessions are closed)"
    )
    passwd.add_argument("login", metavar="LOGIN", help=LOGIN_HELP)
    _password_stdin(passwd)
    for name, text in (
        ("disable", "refuse its logins and close its sessions"),
        ("enable", "allow its logins again"),
        ("remove", "delete the account (the audit trail keeps what it did)"),
    ):
        users_sub.add_parser(name, parents=[common], help=text).add_argument(
            "login", metavar="LOGIN", help=LOGIN_HELP
        )
    totp = users_sub.add_parser(
        "totp",
        parents=[common],
        help="give the account a TOTP second factor and print its otpauth:// URI once",
    )
    totp.add_argument("login", metavar="LOGIN", help=LOGIN_HELP)
    totp.add_argument("--off", action="store_true", help="remove the second factor instead")

    sub.add_parser(
        "web",
        parents=[common],
        help="the web console, on web.listen (default 127.0.0.1:8080)",
    )

    doctor = sub.add_parser(
        "doctor",
        parents=[common],
        help="check port, modem, SIM, signal, network, SMS centre, storage",
    )
    _json(doctor)

    sim = sub.add_parser(
        "sim",
        parents=[common],
        help="run the built-in simulated modem on a pseudo-terminal",
        description="Run the simulated modem on a pseudo-terminal and print its port. With "
        "--config, it plays the configuration's modem: its port path (modem.port) is where "
        "the pty is linked, and its SIM asks modem.pin; the options below override them.",
    )
    sim.add_argument(
        "--profile",
        metavar="P",
        help="vendor profile: generic, huawei-e3372, simcom-sim7600, quectel-ec25 (default: "
        "modem.profile of --config, else generic)",
    )
    sim.add_argument(
        "--link",
        type=Path,
        metavar="PATH",
        help="stable path to link to the pty (like a udev rule); default: modem.port of "
        "--config, else a new temporary folder",
    )
    sim.add_argument(
        "--pin", metavar="PIN", help="the simulated SIM asks for this PIN (default: modem.pin)"
    )
    sim.add_argument(
        "--latency", type=float, metavar="S", help="seconds per AT+CMGS (default per profile)"
    )
    sim.add_argument(
        "--record", type=Path, metavar="FILE", help="append every SMS sent as a JSON line here"
    )
    sim.add_argument("--no-smsc", action="store_true", help="the SIM has no SMS centre number")
    sim.add_argument(
        "--cms-error-rate",
        type=float,
        default=0.0,
        metavar="R",
        help="share of sends answered +CMS ERROR: 38 (0 to 1)",
    )

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="everything on the simulated modem, in a temporary folder",
        description="Run the whole daemon on the simulated modem in a temporary folder. With "
        "--config, the demo uses its SIM limits, alert settings (template, advice, reply "
        "number) and replies; its modem, folders and operator numbers are left alone.",
    )
    demo.add_argument(
        "--latency",
        type=float,
        default=0.3,
        metavar="S",
        help="simulated seconds per SMS part (a real modem: 2 to 3)",
    )
    demo.add_argument(
        "--subscribers", type=int, default=9, metavar="N", help="how many sample members"
    )
    demo.add_argument(
        "--web",
        nargs="?",
        const="127.0.0.1:8080",
        metavar="HOST:PORT",
        help="then keep the daemon running with the web console there (default "
        "127.0.0.1:8080) and print a demo login; Ctrl-C ends",
    )
    return parser


ALERT_ID_HELP = "the alert's ID (see modemd alert list) or the file's `id`"
LOGIN_HELP = "the account's login (lowercase letters, digits, '.', '_', '-')"
PHONE_HELP = "the number, as 06 12 34 56 78, 0612345678 or +33612345678"


def _senders(sub: Any, common: argparse.ArgumentParser) -> None:
    senders = sub.add_parser(
        "senders",
        parents=[common],
        help="the numbers allowed to raise an alert by SMS (ALERTE <PIN> ...)",
    )
    actions = senders.add_subparsers(dest="senders_command", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add",
        parents=[common],
        help="register a duty desk's phone; the PIN is asked on the terminal",
    )
    add.add_argument("phone", metavar="PHONE", help=PHONE_HELP)
    add.add_argument("--name", required=True, help="the desk, as the audit trail names it")
    add.add_argument("--communes", metavar="A,B", help="only these communes (default: any)")
    add.add_argument("--sectors", metavar="A,B", help="only these trades (default: any)")
    add.add_argument("--categories", metavar="A,B", help="only these categories (default: any)")
    add.add_argument(
        "--pin-stdin", action="store_true", help="read the PIN as one line of standard input"
    )
    _json(actions.add_parser("list", parents=[common], help="the registered senders"))
    for action, text in (
        ("remove", "forget a sender"),
        ("lock", "refuse its commands until unlocked"),
        ("unlock", "accept its commands again (and forget its wrong PINs)"),
    ):
        actions.add_parser(action, parents=[common], help=text).add_argument(
            "phone", metavar="PHONE", help=PHONE_HELP
        )


def _tokens(sub: Any, common: argparse.ArgumentParser) -> None:
    from modemd.operations.tokens import SCOPES

    tokens = sub.add_parser("tokens", parents=[common], help="the HTTP API's tokens")
    actions = tokens.add_subparsers(dest="tokens_command", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add", parents=[common], help="make a token; its secret is printed once"
    )
    add.add_argument("name", metavar="NAME", help="what the audit trail calls it (api:NAME)")
    add.add_argument(
        "--scope",
        action="append",
        required=True,
        metavar="SCOPE",
        help=f"what it may do, repeated or comma-separated: {', '.join(SCOPES)}",
    )
    _json(actions.add_parser("list", parents=[common], help="every token and its last use"))
    revoke = actions.add_parser("revoke", parents=[common], help="a token opens nothing any more")
    revoke.add_argument("name", metavar="NAME", help="the token's name")


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output (JSON)")


def _password_stdin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password as one line from standard input instead of asking",
    )


def _details(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="the shop's name")
    parser.add_argument("--commune", help="its commune, for targeting")
    parser.add_argument("--sector", help="its trade (tabac, bijouterie...), for targeting")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _load(args: argparse.Namespace, required: bool = True) -> Config:
    path = resolve_path(getattr(args, "config", None))
    explicit = hasattr(args, "config") or required
    return load_config(path, required=explicit)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # here, so a closed pipe is caught below, not at exit
        return code
    except BrokenPipeError:
        # `modemd ... | head`: the reader took what it wanted and left. No traceback, and
        # nothing more to write (Python would try again at exit).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (ConfigError, UsageError) as exc:
        print(f"modemd: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Failure as exc:
        print(f"modemd: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_FAILURE


def _dispatch(args: argparse.Namespace) -> int:
    if args.command in ("sim", "demo"):
        _setup_logging(getattr(args, "log_level", "WARNING"))
        # They need no configuration; one given explicitly is read and used.
        given = load_config(Path(args.config)) if hasattr(args, "config") else None
        if args.command == "sim":
            return _sim(args, given)
        from modemd.cli.demo import run_demo

        return run_demo(
            latency=args.latency, subscribers=args.subscribers, config=given, web=args.web
        )
    config = _load(args)
    # The configured level is the daemon's; a command's own output is what a person reads,
    # so its log says only warnings and errors unless asked.
    default_level = config.log_level if args.command in ("run", "web") else "WARNING"
    _setup_logging(getattr(args, "log_level", None) or default_level)
    if args.command == "doctor":
        return _doctor(config, args.json)
    from modemd.cli import alerts, members, status

    if args.command == "run":
        return status.run(config)
    if args.command == "status":
        return status.status(config, args.json, args.watch)
    if args.command == "audit":
        from modemd.cli.audit import audit

        return audit(config, args.since, args.actor, args.json)
    if args.command == "alert":
        if args.alert_command == "send":
            return alerts.alert_send(config, args.file, args.check, args.json)
        if args.alert_command == "list":
            return alerts.alert_list(config, args.json, args.limit)
        if args.alert_command == "show":
            return alerts.alert_show(config, args.id, args.json)
        return alerts.alert_cancel(config, args.id)
    if args.command == "senders":
        from modemd.cli.senders import senders

        options = {
            k: getattr(args, k, None)
            for k in ("phone", "name", "communes", "sectors", "categories", "pin_stdin", "json")
        }
        return senders(config, args.senders_command, options)
    if args.command == "tokens":
        from modemd.cli.tokens import tokens

        options = {k: getattr(args, k, None) for k in ("name", "scope", "json")}
        return tokens(config, args.tokens_command, options)
    if args.command in ("users", "web"):
        from modemd.cli import users

        if args.command == "web":
            return users.web(config)
        options = {
            k: getattr(args, k, None) for k in ("login", "role", "password_stdin", "json", "off")
        }
        return users.users(config, args.users_command, options)
    if args.command == "subscribers":
        options = {
            k: getattr(args, k, None)
            for k in ("file", "json", "status", "phone", "name", "commune", "sector", "lang")
        }
        return members.subscribers(config, args.members_command, options)
    raise UsageError(f"unknown command {args.command}")


def _sim(args: argparse.Namespace, config: Config | None) -> int:
    from modemd.sim.profiles import PROFILES
    from modemd.sim.serve import serve

    modems = [m for m in config.pool() if m.kind == "modem"] if config is not None else []
    modem = modems[0] if modems else None
    profile = args.profile or (
        modem.profile if modem is not None and modem.profile != "auto" else "generic"
    )
    link = args.link
    if link is None and modem is not None and "://" not in modem.port:
        link = Path(modem.port)  # where the configuration's daemon will look for it
        if link.exists() and not link.is_symlink():
            raise UsageError(
                f"modem.port {link} is a real device, not a place for the simulator: "
                "give --link PATH"
            )
    pin = args.pin if args.pin is not None else (modem.pin if modem is not None else None)
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    if pin is not None and not (pin.isdigit() and 4 <= len(pin) <= 8):
        raise UsageError("--pin must be 4 to 8 digits")
    return serve(
        profile,
        link,
        pin=pin,
        latency=args.latency,
        smsc=None if args.no_smsc else "+33689004000",
        cms_error_rate=args.cms_error_rate,
        commands=None if sys.stdin is None or sys.stdin.closed else sys.stdin,
        record=args.record,
    )


def _doctor(config: Config, as_json: bool) -> int:
    from modemd.cli.doctor import format_report, healthy, run_doctor

    checks = run_doctor(config)
    if as_json:
        print(json.dumps([asdict(c) for c in checks], indent=2, ensure_ascii=False))
    else:
        print(format_report(checks))
    if healthy(checks):
        return EXIT_OK
    failed = next(c for c in checks if c.result == "FAILED")
    print(f"modemd: {failed.name} check failed: {failed.detail}", file=sys.stderr)
    return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
