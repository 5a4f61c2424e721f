"""Load tools that measure one paydesk process from another: `python -m bench all` runs them all."""
