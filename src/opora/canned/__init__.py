"""Canned responses: the agents' library of reply templates with variables."""
