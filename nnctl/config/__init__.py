"""The config: its pydantic schema and the strict loader (YAML 1.2, --set overrides)."""
