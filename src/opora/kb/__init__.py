"""Knowledge base: articles and FAQ in categories and sections, versions, votes, and search."""
