"""Whether a device event opens a proactive ticket: a pure decision over the channel's rules.

A rule matches when the event is at least as severe as its ``min_severity`` (if given) and its code
is one of ``codes`` (if given); a rule with neither matches everything. Any matching rule opens a
ticket. A channel without rules opens tickets for ``error`` and ``critical`` events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SEVERITIES = ("info", "warning", "error", "critical")
MAX_RULES = 50


@dataclass(frozen=True)
class Rule:
    min_severity: str | None = None
    codes: frozenset[str] = frozenset()

    def matches(self, severity: str, code: str) -> bool:
        if self.min_severity is not None and rank(severity) < rank(self.min_severity):
            return False
        return not self.codes or code in self.codes


DEFAULT_RULES = (Rule(min_severity="error"),)


def rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def opens_ticket(rules: Sequence[Rule], severity: str, code: str) -> bool:
    return any(rule.matches(severity, code) for rule in rules or DEFAULT_RULES)


def priority_for(severity: str) -> str:
    return "urgent" if severity == "critical" else "high" if severity == "error" else "normal"


def load_rules(raw: Any) -> tuple[Rule, ...]:
    """The ``rules`` setting: ``[{"min_severity": "error"}, {"codes": ["E42"]}, ...]``."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_RULES:
        raise ValueError(f"'rules' must be a list of at most {MAX_RULES} rules")
    return tuple(_rule(item, index) for index, item in enumerate(raw))


def _rule(item: Any, index: int) -> Rule:
    if not isinstance(item, Mapping) or set(item) - {"min_severity", "codes"}:
        raise ValueError(f"rule {index + 1} may only have 'min_severity' and 'codes'")
    severity = item.get("min_severity")
    if severity is not None and severity not in SEVERITIES:
        raise ValueError(f"rule {index + 1}: 'min_severity' must be one of {', '.join(SEVERITIES)}")
    codes = item.get("codes") or []
    if not isinstance(codes, list) or not all(isinstance(c, str) and 0 < len(c) <= 100 for c in codes):
        raise ValueError(f"rule {index + 1}: 'codes' must be a list of codes")
    return Rule(min_severity=severity, codes=frozenset(codes))
