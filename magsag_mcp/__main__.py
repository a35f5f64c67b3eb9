"""``python -m magsag_mcp``: the MCP server, the same as the ``magsag-mcp`` command."""

import sys

from .mcp_server.__main__ import main

sys.exit(main())
