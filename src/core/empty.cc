// Keeps a subsystem library linkable before it has sources.
