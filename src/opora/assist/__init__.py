"""Agent assistance: similar solved tickets, suggested templates and articles, the tone check."""
