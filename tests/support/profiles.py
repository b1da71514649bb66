"""Profile texts several test modules share."""

from __future__ import annotations

# Every call on `main` at the primary provider; `backup` at the secondary when it fails
# before its first byte. Format with primary= and secondary= base URLs.
FALLBACK_PROFILE = """
[providers.primary]
api = "anthropic"
base_url = "{primary}"

[providers.secondary]
api = "anthropic"
base_url = "{secondary}"

[models.main]
provider = "primary"
model = "claude-sonnet-4-6"

[models.backup]
provider = "secondary"
model = "claude-haiku-4-5"

[routing]
default = "main"
implement = "main"

[fallbacks]
main = ["backup"]
"""
