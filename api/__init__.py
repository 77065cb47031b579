"""execo: start, watch, time and kill processes, local or remote, alone or in parallel."""
