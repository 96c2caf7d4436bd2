"""``modemd doctor`` for an SMPP link: the SMS centre reached, the account bound, the
contract's settings said back, each with what to do about a failure."""

from __future__ import annotations

import socket
import ssl
import time

from modemd.channels.smpp_link import LinkDown, SmppLink
from modemd.cli.doctor import FAIL, OK, SKIP, WARN, Check
from modemd.config import ChannelConfig, is_alphanumeric_sender, parse_duration

CONNECT_TIMEOUT = 10.0
SMPP_CHECKS = ("SMS centre", "bind", "sender")


def check_smpp(config: ChannelConfig) -> list[Check]:
    where = f"{config.host}:{config.tcp_port}"
    try:
        started = time.monotonic()
        with socket.create_connection((config.host, config.tcp_port), CONNECT_TIMEOUT) as raw:
            if config.tls:
                ssl.create_default_context().wrap_socket(raw, server_hostname=config.host).close()
        took = (time.monotonic() - started) * 1000
    except ssl.SSLError as exc:
        return _stop(
            Check(
                "SMS centre",
                FAIL,
                f"{where}: TLS refused ({exc.reason or exc})",
                "ask the aggregator whether this port takes TLS, and for its certificate chain",
            )
        )
    except OSError as exc:
        return _stop(
            Check(
                "SMS centre",
                FAIL,
                f"cannot reach {where}: {exc.strerror or exc}",
                "check host and port with the aggregator, the Internet link, and that the "
                "aggregator allows this address (many filter by IP)",
            )
        )
    results = [Check("SMS centre", OK, f"{where} reached in {took:.0f} ms")]
    link = SmppLink(
        config.host,
        config.tcp_port,
        system_id=config.system_id,
        password=config.password or "",
        system_type=config.system_type,
        tls=config.tls,
        enquire_link=parse_duration(config.enquire_link),
        response_timeout=CONNECT_TIMEOUT,
        on_deliver=lambda pdu: 0,
        on_lost=lambda reason: None,
    )
    try:
        link.open()
    except LinkDown as exc:
        results.append(
            Check(
                "bind",
                FAIL,
                str(exc),
                "check system_id, password and system_type with the aggregator; the account "
                "must allow a transceiver bind (sending, receipts and SMS from phones on one link)",
            )
        )
        results.append(Check("sender", SKIP, ""))
        return results
    link.close()
    results.append(
        Check(
            "bind",
            OK,
            f"bound as transceiver, system_id {config.system_id}, window {config.window}, "
            f"throughput {config.throughput:g}/s",
        )
    )
    if is_alphanumeric_sender(config.source_addr):
        results.append(
            Check(
                "sender",
                WARN,
                f"{config.source_addr} is a name: phones cannot answer it",
                "make sure alerts.reply_number is a number that reaches modemd (STOP)",
            )
        )
    else:
        results.append(Check("sender", OK, f"{config.source_addr}"))
    return results


def _stop(first: Check) -> list[Check]:
    return [first, *(Check(name, SKIP, "") for name in SMPP_CHECKS[1:])]
