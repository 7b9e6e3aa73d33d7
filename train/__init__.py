"""Training the models the product ships (never run in CI or at install)."""
