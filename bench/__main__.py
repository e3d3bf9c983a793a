"""`python -m bench` (`make bench`): every benchmark, one after the other."""

from bench import meter_search

meter_search.main()
