"""The daemon at run time: the frame loop and its parts (camera sources, picture health,
motion and the adaptive gate, faults, systemd notify, the stage watchdog) and the assembly
of a stop from a config."""
