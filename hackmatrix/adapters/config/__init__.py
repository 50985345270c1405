"""Config-source adapters implementing the ``ConfigSource`` port (file, env, CLI)."""
