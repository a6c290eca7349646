"""The customer portal's own state: magic-link sign-ins and the portal sessions they open."""
