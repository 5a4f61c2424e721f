"""paydesk: a self-hosted payment desk on aiohttp, Stripe Checkout and SQLite."""
