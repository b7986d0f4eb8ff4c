"""Running rinr on real machines: SuperLink/SuperNode launch, certificates, keys, network shaping.

The shell scripts in this folder are the user-facing tools (see ``deploy/README.md``); the
Python modules are the parts that are easier in Python: :mod:`deploy.connection` (Flower's
connection file), :mod:`deploy.cluster` (a SuperLink and SuperNodes on one machine, for tests
and try-outs) and :mod:`deploy.netem` (a shaped link between network namespaces).
"""
