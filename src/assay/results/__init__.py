"""What runs produce: results, the JSON report, JUnit XML."""
