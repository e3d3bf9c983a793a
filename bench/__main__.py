"""`python -m bench` (`make bench`): the meter search benchmark; each other one runs as
`python -m bench.<name>`."""

from bench import meter_search

meter_search.main()
