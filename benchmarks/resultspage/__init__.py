"""The results page: a registry of the benchmark tables (`sections`), running them
(`runner`), storing their JSON with the command and machine (`store`) and rendering
`docs/results.md` from what is stored (`render`). The command line is
`benchmarks/results.py`."""
