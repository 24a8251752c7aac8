"""The local web studio (``gankit studio``): :func:`gankit.studio.server.start_server` runs it
in a background thread, :func:`gankit.studio.server.make_server` builds it for the CLI."""
