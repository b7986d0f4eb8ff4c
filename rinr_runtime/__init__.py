"""What both Flower apps share: the run configuration, the message protocol, the detector
and the placement model.

:mod:`rinr_runtime.config` (every ``run_config`` key), :mod:`rinr_runtime.records` (the
messages' records, frame ids and byte metering), :mod:`rinr_runtime.detector` (YOLOv8 through
Ultralytics, offline), :mod:`rinr_runtime.planning` (edge vs fog placement, ``rinr plan``) and
:mod:`rinr_runtime.flower_compat` (the few private Flower APIs the project needs). It imports
``rinr_core`` and Flower, never ``fog`` or ``edge``.
"""
