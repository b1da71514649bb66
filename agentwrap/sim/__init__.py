"""agentwrap.sim"""
