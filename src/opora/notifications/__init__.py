"""In-app notifications for agents: assignments, @mentions in notes, automation rules."""
