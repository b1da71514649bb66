"""agentwrap.proxy"""
