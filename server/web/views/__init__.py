"""HTTP handlers: thin adapters between requests and the domain modules."""
