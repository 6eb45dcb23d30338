"""Replay: Reverb tables, rate limiters, adders, dataset iterators.

Modules that need dm-reverb import it lazily through
`building_blocks.optional_deps.import_reverb`, so the pure parts (n-step
maths, codec) work in the core install without Reverb.
"""
