"""A prepared GPU check: SFT, DPO and MT-Bench answers on one GPU within minutes, with
tokens/s/GPU, MFU and peak memory written as JSON (``python -m zephyr_train.gpu_check``).

- ``config``: the check's arguments and sizes (a dataclass; YAML presets in recipes/gpu_check/);
- ``bundle`` and ``wheels``: what travels to a GPU machine without network (``pack`` makes it);
- ``metrics``: the FLOP counter, step timer and memory figures;
- ``parts``: the environment, SFT, DPO and generation parts; ``check``: runs them, writes JSON;
- ``sizing``: the expected time of the whole check on a GPU at a stated MFU.
"""
