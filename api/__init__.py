"""What every endpoint under /api/v1 shares: errors, the JSON parser, schema
hooks, health, the docs, and the JSON 404 for any URL no other app claims."""
