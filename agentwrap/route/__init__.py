"""Routing: which model handles each call, and why.

profile   the TOML format, discovery, presets, validation (Profile, Provider, load_profile)
classify  the step kind of a call, from the step hints of the agents in agents/registry.py
features  what rules look at: size, images, thinking, tools, server tools, last outcome
decide    the decision: rules, routing, fallbacks, budget, sticky main loop (Decision)
learn     learned routing: failure evidence, Beta posteriors, the chooser and its propensity
"""
