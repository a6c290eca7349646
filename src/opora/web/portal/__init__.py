"""The public customer portal (``/help``): knowledge-base pages and the customer's own requests."""
