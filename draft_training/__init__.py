"""EAGLE-3 draft-head training: data, draft vocabulary, head, training-time-test loop, export, offline τ.

The head computes exactly what vLLM and SGLang run at serving time, and the exported directory is the
checkpoint contract in ../shared/ARCHITECTURE.md (`LlamaForCausalLMEagle3`, SpecForge's tensor names).
"""
