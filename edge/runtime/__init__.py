"""The stop at run time: the frame loop and its parts (camera sources, picture health, motion
and the adaptive gate, faults with one writer, systemd notify, the stage watchdog), the one
``Control`` protocol, the reload table, and each part built from its config section
(``assembly``). Putting a stop together is the composition layer's (``edge.app``)."""
