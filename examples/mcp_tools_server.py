"""A small MCP server for examples/mcp_team.py: unit conversions over stdio."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server = MCPServer("unit-converter")

FACTORS = {
    ("km", "mi"): 0.621371,
    ("mi", "km"): 1.609344,
    ("kg", "lb"): 2.204623,
    ("lb", "kg"): 0.453592,
    ("m", "ft"): 3.280840,
    ("ft", "m"): 0.3048,
}


@server.tool()
def convert(value: float, from_unit: str, to_unit: str) -> str:
    """Convert a value between units: km, mi, kg, lb, m, ft."""
    factor = FACTORS.get((from_unit.lower(), to_unit.lower()))
    if factor is None:
        return f"cannot convert {from_unit} to {to_unit}; known: {sorted(FACTORS)}"
    return f"{value} {from_unit} = {value * factor:.3f} {to_unit}"


@server.tool()
def celsius_to_fahrenheit(celsius: float) -> str:
    """Convert a temperature from Celsius to Fahrenheit."""
    return f"{celsius} C = {celsius * 9 / 5 + 32:.1f} F"


if __name__ == "__main__":
    server.run()
