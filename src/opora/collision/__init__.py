"""Collision detection: who else is viewing or typing on a ticket, live, with no database rows."""
