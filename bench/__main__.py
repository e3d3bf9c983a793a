"""`python -m bench` (`make bench`): every benchmark in turn; each also runs alone as
`python -m bench.<name>` with its own options (see its docstring)."""

from bench import landing, meter_search, webhook_drain

for benchmark in (landing, meter_search, webhook_drain):
    benchmark.main()
