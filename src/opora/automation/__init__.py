"""Automation: rules that react to ticket events, and signed outbound webhooks."""
