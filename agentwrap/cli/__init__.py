"""agentwrap.cli"""
