"""Synthetic multi-turn function-calling SFT data after APIGen-MT (`specstack adapt synth-fc`).

Per sample (a seeded pick of tools and a persona): the generator writes a blueprint (environment and
policy, system prompt, user goal, planned calls) and the judge reviews it, with feedback, for up to
`blueprint_rounds` rounds (`blueprint.py`); then the user simulator, the assistant, the API emulator and the
stop decider play the dialogue turn by turn, and the judge passes or drops the result (`simulate.py`).
`pipeline.py` runs the samples resumably; `specs.py` validates tool specs and calls; `config.py` and
`roles.py` set up the endpoints of the roles.
"""
