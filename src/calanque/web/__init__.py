"""Layer 5: dashboards and public pages."""
