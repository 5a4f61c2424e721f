"""The console's HTTP handlers: thin layers over the console's domain modules."""
