"""Review: what an organisation does with a match.

A match is a signal, not a verdict. The organisation's match policy for the bank routes it
(``policies``); a case collects one piece of content and its matches (``cases``); a reviewer's
decision sends an opinion to the bank's owner and queues actions, which webhooks deliver to the
organisation's platform (``actions``); removal orders and complaints set deadlines on cases
(``orders``, ``complaints``); every step is written to a hash-chained audit log (``audit``).
"""
