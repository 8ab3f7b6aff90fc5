"""Reports written from the run store (the HTML experiment report)."""
