"""The product for other programs: an HTTP API (`rag serve`) and an MCP server (`rag mcp`).

Both go through `rag.api.service.Service`, which checks a request the same way
for either and names what was wrong; `rag.api.http` and `rag.api.mcp_server`
only translate their protocol to it. Nothing here is imported by `rag --help`.
"""
