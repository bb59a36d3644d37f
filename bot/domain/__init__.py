"""Pure rules of the complaint procedure: no I/O, no clock, no SDK."""
