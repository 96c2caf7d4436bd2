"""Who may use each route: one table, read by the guard on every request and by the test
that walks every route for every role. A route missing from the table is refused to all."""

from __future__ import annotations

OPERATEUR, CCI, ADMIN = "operateur", "cci", "admin"
EVERYONE = frozenset({OPERATEUR, CCI, ADMIN})
SENDERS = frozenset({OPERATEUR, ADMIN})  # write, send and cancel alerts
MEMBERS = frozenset({CCI, ADMIN})  # the members list
ADMINS = frozenset({ADMIN})
PUBLIC = frozenset({"*"})  # no session needed: the login page, nothing else

Rule = frozenset[str]

RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/connexion"): PUBLIC,
    ("POST", "/connexion"): PUBLIC,
    ("POST", "/deconnexion"): EVERYONE,
    ("GET", "/"): EVERYONE,
    # Alerts
    ("GET", "/alertes"): SENDERS,
    ("GET", "/alertes/nouvelle"): SENDERS,
    ("POST", "/alertes/apercu"): SENDERS,
    ("POST", "/alertes/confirmer"): SENDERS,
    ("POST", "/alertes/envoyer"): SENDERS,
    ("GET", "/alertes/{alert_id}"): SENDERS,
    ("GET", "/alertes/{alert_id}/flux"): SENDERS,
    ("POST", "/alertes/{alert_id}/annuler"): SENDERS,
    # Members
    ("GET", "/membres"): MEMBERS,
    ("POST", "/membres/ajouter"): MEMBERS,
    ("POST", "/membres/supprimer"): MEMBERS,
    ("POST", "/membres/desinscrire"): MEMBERS,
    ("GET", "/membres/import"): MEMBERS,
    ("POST", "/membres/import"): MEMBERS,
    ("GET", "/membres/export.csv"): MEMBERS,
    ("GET", "/membres/demandes"): MEMBERS,
    ("POST", "/membres/approuver"): MEMBERS,
    ("POST", "/membres/rejeter"): MEMBERS,
    ("GET", "/membres/desinscriptions"): MEMBERS,
    # Replies: whoever sends alerts or looks after members reads what came back.
    ("GET", "/reponses"): EVERYONE,
    ("POST", "/reponses/{reply_id}/traitee"): EVERYONE,
    # Admin
    ("GET", "/journal"): ADMINS,
    ("GET", "/utilisateurs"): ADMINS,
    ("POST", "/utilisateurs/ajouter"): ADMINS,
    ("POST", "/utilisateurs/{login}/mot-de-passe"): ADMINS,
    ("POST", "/utilisateurs/{login}/desactiver"): ADMINS,
    ("POST", "/utilisateurs/{login}/activer"): ADMINS,
    ("POST", "/utilisateurs/{login}/supprimer"): ADMINS,
    ("POST", "/utilisateurs/{login}/role"): ADMINS,
    ("POST", "/utilisateurs/{login}/totp"): ADMINS,
    ("POST", "/utilisateurs/{login}/totp/retirer"): ADMINS,
    ("GET", "/expediteurs"): ADMINS,
    ("POST", "/expediteurs/ajouter"): ADMINS,
    ("POST", "/expediteurs/bloquer"): ADMINS,
    ("POST", "/expediteurs/debloquer"): ADMINS,
    ("POST", "/expediteurs/supprimer"): ADMINS,
    ("GET", "/jetons"): ADMINS,
    ("POST", "/jetons/ajouter"): ADMINS,
    ("POST", "/jetons/revoquer"): ADMINS,
    ("GET", "/webhooks"): ADMINS,
    ("POST", "/webhooks/ajouter"): ADMINS,
    ("POST", "/webhooks/supprimer"): ADMINS,
}


def rule_for(method: str, path: str) -> Rule | None:
    """HEAD is answered as GET is."""
    return RULES.get(("GET" if method == "HEAD" else method, path))


def allowed(rule: Rule, role: str | None) -> bool:
    return rule is PUBLIC or (role is not None and role in rule)
