"""magsag-mcp benchmarks: ``python -m benchmarks`` (see BENCHMARKS.md)."""
