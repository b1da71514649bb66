"""agentwrap.trace"""
