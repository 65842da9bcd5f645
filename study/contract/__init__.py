"""Contract: how any model, ours or a library's, enters the study.

The ``Adapter`` base class and its tags, the registry that finds built-in and third-party
adapters, declared search spaces, thread limits, runner profiles, the multi-fidelity rung hook
(``fidelity``) and the check kit a plugin author runs (``check_kit``): only what a new adapter
author needs (what older rows hashed is ``study.records.migration``'s). Adapters themselves
live in the top-level ``adapters`` package; only ``registry`` reaches into it.
"""
