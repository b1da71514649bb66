"""Routing: which model handles each call, and why.

profile   profiles: data (Profile, Provider, Model, Rule), load (the only disk reader: presets,
          discovery, extends) and build (TOML to a validated Profile, file:line:key errors)
classify  the step kind of a call, from the step hints of the agents in agents/registry.py
features  what rules look at: size, images, thinking, tools, server tools, last outcome
outcome   what the next request reveals about a step, on every surface: its label and the
          signals of an agent struggling (repeats, edit retries, corrections)
decide    the decision: rules, routing, fallbacks, budget, sticky main loop (Decision)
dearer    the never-dearer rule's note: the route it did not take, and what would allow it
learn     learned routing: failure evidence, Beta posteriors, the chooser and its propensity
"""
