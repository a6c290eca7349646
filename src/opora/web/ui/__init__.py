"""The agent workspace: inbox, ticket page, composer and admin screens, server-rendered."""
