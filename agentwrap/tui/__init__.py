"""agentwrap.tui"""
