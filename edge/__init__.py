"""The edge side of rinr: the Flower ClientApp (``edge.client_app:app``) and what it uses.

Modules: ``config`` (every run_config key), ``records`` (Flower records of the runtime),
``data`` (a node's own frames), ``store`` (its state on disk), ``node`` (what it does per
message), ``yolo`` (YOLOv8 with Ultralytics, the only module importing it).
"""
