"""The installer's tools: commissioning a box on site and editing its config."""
