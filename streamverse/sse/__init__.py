"""Server-Sent Events: the wire format (``encoder``), a subscription as an event stream
(``stream``), and live feeds served as lean ASGI middleware (``feeds``)."""
