"""agentwrap.agents"""
