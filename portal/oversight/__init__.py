"""Oversight: what the province and the finance departments follow over the year, read from the
two workflows' data (the 832 fulfilment against the reserved share, roll-ups across finance
levels, 通报, reminders, dashboards). Neither workflow imports this package."""
