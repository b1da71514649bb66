"""agentwrap.wire"""
