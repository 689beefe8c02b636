"""A team whose tools come from an MCP server (started over stdio for each run).

    orchestra run examples/mcp_team.py:team "How far is a 10 km run in miles, and 20 C in F?"

The server is examples/mcp_tools_server.py; any MCP server works the same way, by command
(``mcp_server("npx -y @some/server")``) or by URL (``mcp_server("http://127.0.0.1:8000/mcp")``).
The model is ``ORCHESTRA_MODEL`` or the embedded default (offline, small: it may not use the
tools well; a real model does).
"""

from __future__ import annotations

import sys
from pathlib import Path

from orchestra import Role, Team, mcp_server

SERVER = Path(__file__).resolve().parent / "mcp_tools_server.py"

team = Team(
    tools=[mcp_server(f"{sys.executable} {SERVER}")],
    roles=[
        Role(
            name="converter",
            instructions="Convert units with the convert and celsius_to_fahrenheit tools.",
            tools=["convert", "celsius_to_fahrenheit"],
            description="converts units and temperatures",
        )
    ],
    max_depth=1,
    name="mcp-team",
)

if __name__ == "__main__":
    result = team.run("How far is a 10 km run in miles, and what is 20 C in Fahrenheit?")
    print(result.output)
