"""A small MCP server to try the chat's tool servers with: notes kept in a JSON file.

`search_notes` only reads (annotated read-only, so the chat runs it without asking);
`add_note` writes (so the chat asks before each call). Run it over Streamable HTTP:

    python examples/mcp_notes_server.py --http 8765

or let the chat start it over stdio (MCP_ALLOW_STDIO=true): command `python`, arguments
`["examples/mcp_notes_server.py"]`. See docs/mcp.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations


def build_server(notes_file: Path) -> MCPServer:
    """The notes server, keeping its notes in `notes_file`."""
    server = MCPServer("notes", instructions="Search and add short notes.")

    def load() -> list[str]:
        return json.loads(notes_file.read_text()) if notes_file.exists() else []

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def search_notes(query: str) -> str:
        """Find the notes that contain every word of the query."""
        words = query.lower().split()
        found = [n for n in load() if all(w in n.lower() for w in words)]
        return "\n".join(found) if found else "No note matches."

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False))
    def add_note(text: str) -> str:
        """Add a note."""
        notes = [*load(), text]
        notes_file.write_text(json.dumps(notes))
        return f"Added note {len(notes)}."

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=Path, default=Path("notes.json"), help="the notes file")
    parser.add_argument("--http", type=int, metavar="PORT", help="serve Streamable HTTP here")
    options = parser.parse_args()
    server = build_server(options.notes)
    if options.http:
        server.run("streamable-http", host="127.0.0.1", port=options.http)
    else:
        server.run()


if __name__ == "__main__":
    main()
