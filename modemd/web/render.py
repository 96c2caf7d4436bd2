"""Templates: Jinja2 with autoescaping on for every template (whatever came from outside,
an SMS, a CSV cell, a name, is text on the page, never markup) and undefined names an error."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from modemd.operations.sessions import Session
from modemd.operations.users import ROLE_NAMES
from modemd.pipeline.compose import CATEGORIES
from modemd.store.lock import running_pid
from modemd.web.rules import ADMINS, MEMBERS, SENDERS

# Messages a redirect may name (?fait=...): fixed texts, so no input is ever echoed back.
DONE = {
    "envoyee": "Alerte acceptée : l'envoi commence.",
    "deja": "Cette alerte avait déjà été envoyée (même identifiant) : rien de nouveau.",
    "annulee": "Alerte annulée : ce qui n'était pas parti ne partira pas.",
    "ajoute": "Membre enregistré.",
    "supprime": "Membre supprimé.",
    "desinscrit": "Désinscription enregistrée ; le commerce en est informé par SMS.",
    "approuve": "Demande approuvée ; le commerce en est informé par SMS.",
    "rejete": "Demande rejetée.",
    "traitee": "Réponse marquée traitée.",
    "utilisateur": "Utilisateur enregistré.",
    "motdepasse": "Mot de passe changé ; ses sessions sont fermées.",
    "desactive": "Utilisateur désactivé ; ses sessions sont fermées.",
    "active": "Utilisateur réactivé.",
    "retire": "Utilisateur supprimé.",
    "role": "Rôle changé.",
    "totp": "Second facteur retiré.",
    "expediteur": "Expéditeur enregistré ; son PIN n'est gardé que sous forme d'empreinte.",
    "bloque": "Expéditeur bloqué : ses commandes sont refusées jusqu'au déblocage.",
    "debloque": "Expéditeur débloqué.",
    "expediteur-retire": "Expéditeur retiré.",
    "jeton-revoque": "Jeton révoqué : il n'ouvre plus rien.",
    "webhook-retire": "Webhook retiré : il n'est plus prévenu.",
}

NAV = [
    ("/", "Tableau de bord", frozenset({"operateur", "cci", "admin"})),
    ("/alertes/nouvelle", "Nouvelle alerte", SENDERS),
    ("/alertes", "Alertes", SENDERS),
    ("/membres", "Membres", MEMBERS),
    ("/reponses", "Réponses", frozenset({"operateur", "cci", "admin"})),
    ("/journal", "Journal", ADMINS),
    ("/utilisateurs", "Utilisateurs", ADMINS),
    ("/expediteurs", "Expéditeurs SMS", ADMINS),
    ("/jetons", "Jetons API", ADMINS),
    ("/webhooks", "Webhooks", ADMINS),
]


def when(stamp: float | None) -> str:
    if not stamp:
        return "—"
    moment = datetime.fromtimestamp(stamp)
    if time.time() - stamp < 20 * 3600:
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%d/%m/%Y %H:%M")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "inconnue"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


env = Environment(
    loader=PackageLoader("modemd.web", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters["when"] = when
env.filters["duration"] = duration
env.globals["ROLE_NAMES"] = ROLE_NAMES
env.globals["CATEGORIES"] = CATEGORIES
env.globals["STATES"] = {
    "active": "en cours",
    "done": "terminée",
    "expired": "expirée",
    "cancelled": "annulée",
    "queued": "en attente",
    "sending": "en cours d'envoi",
    "sent": "envoyé",
    "failed": "échec",
}
env.globals["REPORTS"] = {"delivered": "reçu", "failed": "non remis", "pending": "en attente"}


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    session: Session | None = getattr(request.state, "session", None)
    role = session.user.role if session else None
    done = DONE.get(request.query_params.get("fait", ""))
    web = getattr(request.app.state, "web", None)
    # Every page says so when nothing is being sent: the console works without the daemon.
    idle = session is not None and web is not None and running_pid(web.config.state_dir) is None
    html = env.get_template(template).render(
        session=session,
        csrf=session.csrf if session else context.pop("login_csrf", ""),
        nav=[(href, label) for href, label, roles in NAV if role in roles],
        path=request.url.path,
        done=done,
        daemon_stopped=idle,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)
