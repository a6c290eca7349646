"""Server-rendered HTML: the agent workspace (ui/), later the customer portal and chat widget."""
