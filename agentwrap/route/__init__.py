"""agentwrap.route"""
