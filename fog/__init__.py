"""The fog side of rinr: the Flower ServerApp (``fog.server_app:app``) and what it uses.

Modules: ``strategy`` (round logic), ``encoder`` and ``encode_cache`` (checked, batched,
cached encoding), ``report`` (byte ledger and run report), ``local_grid`` (an in-process Grid
for tests), ``simulation`` (in-process Ray simulation), ``launch`` (``flwr run`` on a private
local SuperLink) and ``demo`` (``make demo``).
"""
