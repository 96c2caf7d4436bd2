"""The ``modemd`` command line: argument parsing, exit codes, one clear sentence per error.

Exit 0 on success, 2 on bad input or configuration, 1 on other failures.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from modemd import __version__
from modemd.config import Config, ConfigError, load_config, resolve_path

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input from the user: exit 2."""


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
        help="log verbosity on stderr (default: from the config, INFO)",
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

    doctor = sub.add_parser(
        "doctor",
        parents=[common],
        help="check port, modem, SIM, signal, network, SMS centre, storage",
    )
    doctor.add_argument("--json", action="store_true", help="machine-readable output")

    sim = sub.add_parser(
        "sim", parents=[common], help="run the built-in simulated modem on a pseudo-terminal"
    )
    sim.add_argument(
        "--profile",
        default="generic",
        help="vendor profile: generic, huawei-e3372, simcom-sim7600, quectel-ec25",
    )
    sim.add_argument(
        "--link",
        type=Path,
        help="stable path to link to the pty (like a udev rule); default: a new temporary folder",
    )
    sim.add_argument("--pin", help="the simulated SIM asks for this PIN")
    sim.add_argument("--latency", type=float, help="seconds per AT+CMGS (default per profile)")
    sim.add_argument("--no-smsc", action="store_true", help="the SIM has no SMS centre number")
    sim.add_argument(
        "--cms-error-rate", type=float, default=0.0, help="share of sends answered +CMS ERROR: 38"
    )

    demo = sub.add_parser(
        "demo", parents=[common], help="everything on the simulated modem, in a temporary folder"
    )
    demo.add_argument(
        "--latency",
        type=float,
        default=0.3,
        help="simulated seconds per SMS part (a real modem: 2 to 3)",
    )
    demo.add_argument("--subscribers", type=int, default=8, help="how many sample members")
    return parser


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
        return _dispatch(args)
    except (ConfigError, UsageError) as exc:
        print(f"modemd: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_FAILURE


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "sim":
        _setup_logging(getattr(args, "log_level", "WARNING"))
        return _sim(args)
    if args.command == "demo":
        _setup_logging(getattr(args, "log_level", "WARNING"))
        from modemd.demo import run_demo

        return run_demo(latency=args.latency, subscribers=args.subscribers)
    config = _load(args)
    _setup_logging(getattr(args, "log_level", None) or config.log_level)
    if args.command == "doctor":
        return _doctor(config, args.json)
    raise UsageError(f"unknown command {args.command}")


def _sim(args: argparse.Namespace) -> int:
    from modemd.sim.profiles import PROFILES
    from modemd.sim.serve import serve

    if args.profile not in PROFILES:
        raise UsageError(f"unknown profile {args.profile!r} (known: {', '.join(PROFILES)})")
    if args.pin is not None and not (args.pin.isdigit() and 4 <= len(args.pin) <= 8):
        raise UsageError("--pin must be 4 to 8 digits")
    return serve(
        args.profile,
        args.link,
        pin=args.pin,
        latency=args.latency,
        smsc=None if args.no_smsc else "+33689004000",
        cms_error_rate=args.cms_error_rate,
        commands=None if sys.stdin is None or sys.stdin.closed else sys.stdin,
    )


def _doctor(config: Config, as_json: bool) -> int:
    from modemd.doctor import format_report, healthy, run_doctor

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
