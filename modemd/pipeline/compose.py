"""From an alert's fields to the SMS text: template, category labels, encoding and parts."""

from __future__ import annotations

from dataclasses import dataclass

from modemd.config import AlertsConfig
from modemd.sms.parts import Composition, compose

# The facts named by the « Alerte Commerces » scheme: key -> label shown in the SMS title.
CATEGORIES: dict[str, str] = {
    "cambriolage": "Cambriolage",
    "vol_main_armee": "Vol à main armée",
    "vol_etalage": "Vol à l'étalage",
    "vol_vehicule": "Vol de véhicule ou de matériel",
    "vol_marchandises": "Vol de marchandises",
    "vol_produits": "Vol de produits",
    "vol_ruse": "Vol par ruse",
    "demarchage_frauduleux": "Démarchage frauduleux",
    "fausse_monnaie": "Fausse monnaie",
    "escroquerie": "Escroquerie",
    "autre": "Alerte",
}


@dataclass(frozen=True)
class AlertText:
    message: str
    category: str = "autre"
    advice: str | None = None


def render(alert: AlertText, config: AlertsConfig) -> str:
    """The SMS text before encoding: the template filled in, blank lines dropped."""
    if alert.category not in CATEGORIES:
        raise ValueError(f"unknown category {alert.category!r}")
    advice = config.default_advice if alert.advice is None else alert.advice
    text = config.template.format(
        category=CATEGORIES[alert.category],
        message=alert.message.strip(),
        advice=advice.strip(),
        reply=f"au {config.reply_number}" if config.reply_number else "en réponse",
    )
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())


def compose_alert(alert: AlertText, config: AlertsConfig) -> Composition:
    return compose(render(alert, config), config.encoding, config.transliterate)
