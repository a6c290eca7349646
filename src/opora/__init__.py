"""Opora: an open-source omnichannel customer-support desk."""

__version__ = "0.1.0"
