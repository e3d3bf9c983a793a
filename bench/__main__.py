"""`python -m bench` (`make bench`): every benchmark in turn; each also runs alone as
`python -m bench.<name>` with its own options (see its docstring)."""

import asyncio

from bench import journeys, landing, meter_search, webhook_drain

landing.main()
journeys.main()
meter_search.main()
asyncio.run(webhook_drain.main(webhook_drain.parse_arguments()))
