"""The page-session fixture of the web tests, for the report pages."""

from tests.web.conftest import login

__all__ = ["login"]
