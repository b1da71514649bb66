"""Built-in routing profiles, one TOML file each."""
