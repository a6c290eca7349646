"""Names of statuses, priorities, channels and roles as the pages show them, in both languages.

Each label is a literal ``_()`` call so that the catalog extractor finds it.
"""

from __future__ import annotations

from opora.web.i18n import gettext as _


def status(value: str) -> str:
    names = {
        "new": _("New"),
        "open": _("Open"),
        "pending": _("Pending"),
        "on_hold": _("On hold"),
        "solved": _("Solved"),
        "closed": _("Closed"),
    }
    return names.get(value, value)


def priority(value: str) -> str:
    names = {"low": _("Low"), "normal": _("Normal"), "high": _("High"), "urgent": _("Urgent")}
    return names.get(value, value)


def channel(value: str) -> str:
    names = {
        "email": _("Email"),
        "chat": _("Chat"),
        "webchat": _("Chat"),
        "widget": _("Chat"),
        "telegram": "Telegram",
        "whatsapp": "WhatsApp",
        "vk": _("VK"),
        "viber": "Viber",
        "phone": _("Phone"),
        "form": _("Web form"),
        "api": "API",
        "iot": _("Device"),
    }
    return names.get(value, value)


# A short badge per channel beside every message and row (plain letters render in every font);
# the full name is in the title and for screen readers.
_ICONS = {
    "email": "@",
    "chat": "CH",
    "webchat": "CH",
    "widget": "CH",
    "telegram": "TG",
    "whatsapp": "WA",
    "vk": "VK",
    "viber": "VB",
    "phone": "TEL",
    "form": "WEB",
    "api": "API",
    "iot": "IoT",
}


def channel_icon(value: str) -> str:
    return _ICONS.get(value, value[:3].upper())


def role(value: str) -> str:
    names = {
        "admin": _("Administrator"),
        "supervisor": _("Supervisor"),
        "agent": _("Agent"),
        "readonly": _("Read-only"),
    }
    return names.get(value, value)


def presence(value: str) -> str:
    names = {"online": _("Online"), "away": _("Away"), "offline": _("Offline")}
    return names.get(value, value)


def event(kind: str) -> str:
    names = {
        "ticket_created": _("Ticket created"),
        "message_added": _("Message added"),
        "status_changed": _("Status changed"),
        "subject_changed": _("Subject changed"),
        "priority_changed": _("Priority changed"),
        "topic_changed": _("Topic changed"),
        "language_changed": _("Language changed"),
        "team_changed": _("Team changed"),
        "assigned": _("Assigned"),
        "tags_changed": _("Tags changed"),
        "fields_changed": _("Fields changed"),
        "merged": _("Merged into another ticket"),
        "ticket_merged_in": _("Another ticket merged in"),
        "escalated": _("Escalated"),
        "sla_started": _("SLA clock started"),
        "sla_paused": _("SLA clock paused"),
        "sla_resumed": _("SLA clock resumed"),
        "sla_warning": _("SLA warning"),
        "sla_breached": _("SLA breached"),
        "sla_fulfilled": _("SLA target met"),
        "csat_received": _("Customer rated the support"),
        "csat_follow_up_done": _("Bad rating followed up"),
        "incident_linked": _("Linked to an incident"),
        "incident_unlinked": _("Unlinked from an incident"),
        "customer_unmerged": _("Customer records separated"),
        "message_delivery": _("Delivery status changed"),
        "device_event": _("Device event"),
        "rule_notification": _("Rule notified agents"),
    }
    return names.get(kind, kind.replace("_", " "))
